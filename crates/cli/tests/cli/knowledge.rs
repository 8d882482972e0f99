//! `hotline knowledge import`: a directory of Markdown and CSV answers
//! becomes draft articles of a unit, audited as imported; a bad file
//! writes nothing.

use std::path::Path;

use crate::{hotline, succeeded};

/// (state, kind of the first event, actor) of each article, by title.
fn articles(url: &str) -> Vec<(String, String, String, String)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_as(
            "SELECT v.title, a.state, e.kind, e.actor FROM knowledge_articles a \
             JOIN knowledge_article_versions v ON v.article_id = a.id AND v.version = a.version \
             JOIN knowledge_events e ON e.article_id = a.id ORDER BY v.title",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    })
}

fn import(dir: &Path, url: &str, path: &Path) -> std::process::Output {
    hotline(dir)
        .args(["knowledge", "import", "--owner-unit", "market-regulation"])
        .args(["--actor", "alice", "--database-url", url])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn a_directory_of_answers_becomes_draft_articles_and_a_bad_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::import::seeded(dir.path());
    let answers = dir.path().join("answers");
    std::fs::create_dir(&answers).unwrap();
    std::fs::write(
        answers.join("a-food.md"),
        "+++\ntitle = \"食品投诉渠道\"\ntags = [\"食品\"]\n+++\n食品安全问题可拨打 12315。\n",
    )
    .unwrap();
    std::fs::write(
        answers.join("b-prices.csv"),
        "title,body\n价格投诉,价格问题可拨打 12315。\n",
    )
    .unwrap();
    std::fs::write(answers.join("notes.txt"), "not an article").unwrap();

    let printed = succeeded(import(dir.path(), &url, &answers));
    assert_eq!(printed.lines().count(), 2, "{printed}");
    assert!(printed.contains("articles/") && printed.contains("食品投诉渠道"));
    let draft = |title: &str| {
        (
            title.to_owned(),
            "draft".to_owned(),
            "imported".to_owned(),
            "cli:alice".to_owned(),
        )
    };
    assert_eq!(articles(&url), [draft("价格投诉"), draft("食品投诉渠道")]);

    let broken = dir.path().join("broken.md");
    std::fs::write(&broken, "+++\ntitle = \"没有结束\"\n").unwrap();
    let out = import(dir.path(), &url, &broken);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("front matter"));
    assert_eq!(articles(&url).len(), 2, "nothing more written");
}
