//! Articles from files: Markdown with a TOML front matter, or CSV.
//!
//! Markdown, one article per file (the front matter between `+++` lines,
//! Hugo's convention for TOML; parsed by the `toml` crate):
//!
//! ```text
//! +++
//! title = "如何办理居住证"
//! subject_codes = ["01.02"]
//! region_codes = ["330106"]
//! tags = ["居住证"]
//! effective_date = "2026-01-01"
//! expire_date = "2026-12-31"
//! +++
//! 携带身份证……
//! ```
//!
//! Without a `title` the first `# ` heading is the title. CSV, one article
//! per row, with a header naming the columns `title`, `body` and
//! optionally `subject_codes`, `region_codes`, `tags` (each a `;`-separated
//! list), `effective_date`, `expire_date` (read by the `csv` crate).
//!
//! Parsing only: the use case validates each article's content as any
//! other draft's.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::{domain::knowledge::ArticleContent, service::ServiceError};

/// A file to import.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Its name; the extension says the format.
    pub name: String,
    /// Its text.
    pub content: String,
}

/// The front matter of a Markdown article.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FrontMatter {
    title: Option<String>,
    subject_codes: Vec<String>,
    region_codes: Vec<String>,
    tags: Vec<String>,
    effective_date: Option<String>,
    expire_date: Option<String>,
}

/// A CSV row.
#[derive(Debug, Deserialize)]
struct CsvRow {
    title: String,
    body: String,
    #[serde(default)]
    subject_codes: String,
    #[serde(default)]
    region_codes: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    effective_date: String,
    #[serde(default)]
    expire_date: String,
}

/// The articles of one file.
pub fn parse(file: &SourceFile) -> Result<Vec<ArticleContent>, ServiceError> {
    let lower = file.name.to_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".markdown") {
        Ok(vec![markdown(&file.content)?])
    } else if lower.ends_with(".csv") {
        csv_rows(&file.content)
    } else {
        Err(ServiceError::invalid(
            "file_name",
            "must end in .md, .markdown or .csv",
        ))
    }
}

fn date(value: Option<&str>, field: &str) -> Result<Option<NaiveDate>, ServiceError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => d
            .parse()
            .map(Some)
            .map_err(|_| ServiceError::invalid(field, format!("{d:?} is not a YYYY-MM-DD date"))),
    }
}

/// One Markdown article.
fn markdown(text: &str) -> Result<ArticleContent, ServiceError> {
    let text = text.trim_start_matches('\u{feff}');
    let (front, body) = match text.strip_prefix("+++") {
        Some(rest) => {
            let end = rest.find("\n+++").ok_or_else(|| {
                ServiceError::invalid("content", "front matter not closed by +++")
            })?;
            let after = &rest[end + 4..];
            let front: FrontMatter = toml::from_str(&rest[..end])
                .map_err(|e| ServiceError::invalid("content", format!("front matter: {e}")))?;
            (front, after.trim_start_matches(['\r', '\n']))
        }
        None => (FrontMatter::default(), text),
    };
    let (title, body) = match front.title {
        Some(title) => (title, body.to_owned()),
        None => heading_title(body).ok_or_else(|| {
            ServiceError::invalid("content", "no title (front matter or # heading)")
        })?,
    };
    Ok(ArticleContent {
        title,
        body: body.trim().to_owned(),
        subjects: front.subject_codes,
        regions: front.region_codes,
        tags: front.tags,
        effective_from: date(front.effective_date.as_deref(), "effective_date")?,
        expires_on: date(front.expire_date.as_deref(), "expire_date")?,
    })
}

/// The first `# ` heading as the title, and the body without it.
fn heading_title(body: &str) -> Option<(String, String)> {
    let mut lines = body.lines();
    let mut before = Vec::new();
    for line in lines.by_ref() {
        if let Some(title) = line.strip_prefix("# ") {
            let rest: Vec<&str> = before.into_iter().chain(lines).collect();
            return Some((title.trim().to_owned(), rest.join("\n")));
        }
        before.push(line);
    }
    None
}

fn list(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The rows of a CSV file.
fn csv_rows(text: &str) -> Result<Vec<ArticleContent>, ServiceError> {
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let row = row.map_err(|e| ServiceError::invalid(format!("rows[{i}]"), e.to_string()))?;
        out.push(ArticleContent {
            title: row.title,
            body: row.body,
            subjects: list(&row.subject_codes),
            regions: list(&row.region_codes),
            tags: list(&row.tags),
            effective_from: date(
                Some(&row.effective_date),
                &format!("rows[{i}].effective_date"),
            )?,
            expires_on: date(Some(&row.expire_date), &format!("rows[{i}].expire_date"))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn markdown_reads_the_front_matter_and_the_body() {
        let md = "+++\ntitle = \"如何办理居住证\"\nsubject_codes = [\"01.02\"]\n\
                  region_codes = [\"330106\"]\ntags = [\"居住证\"]\n\
                  effective_date = \"2026-01-01\"\nexpire_date = \"2026-12-31\"\n+++\n\n携带身份证。\n";
        let [article] = parse(&file("a.md", md)).unwrap().try_into().unwrap();
        assert_eq!(article.title, "如何办理居住证");
        assert_eq!(article.body, "携带身份证。");
        assert_eq!(article.subjects, ["01.02"]);
        assert_eq!(article.regions, ["330106"]);
        assert_eq!(article.effective_from, NaiveDate::from_ymd_opt(2026, 1, 1));
        assert_eq!(article.expires_on, NaiveDate::from_ymd_opt(2026, 12, 31));
    }

    #[test]
    fn markdown_without_front_matter_takes_its_heading_as_title() {
        let [article] = parse(&file("b.MD", "# 燃气报修\n\n拨打 96777。"))
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(article.title, "燃气报修");
        assert_eq!(article.body, "拨打 96777。");
        assert!(parse(&file("c.md", "no title")).is_err());
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let field = |f: SourceFile| match parse(&f) {
            Err(ServiceError::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(file("x.txt", "")), "file_name");
        assert_eq!(field(file("x.md", "+++\ntitle = \"t\"\n")), "content");
        assert_eq!(field(file("x.md", "+++\nowner = 1\n+++\nbody")), "content");
        assert_eq!(
            field(file(
                "x.md",
                "+++\ntitle = \"t\"\nexpire_date = \"soon\"\n+++\nb"
            )),
            "expire_date"
        );
        assert_eq!(field(file("x.csv", "title,body\n\"a")), "rows[0]");
    }

    #[test]
    fn csv_rows_become_articles_with_lists_split_on_semicolons() {
        let csv = "title,body,subject_codes,region_codes,tags,effective_date,expire_date\n\
                   停水通知,\"今日 9 时起停水, 17 时恢复\",01.02;01.03,330106,停水,,2026-06-30\n\
                   燃气报修,拨打 96777,,,,,\n";
        let articles = parse(&file("k.csv", csv)).unwrap();
        assert_eq!(articles.len(), 2);
        assert_eq!(articles[0].subjects, ["01.02", "01.03"]);
        assert_eq!(articles[0].body, "今日 9 时起停水, 17 时恢复");
        assert_eq!(articles[0].effective_from, None);
        assert_eq!(articles[0].expires_on, NaiveDate::from_ymd_opt(2026, 6, 30));
        assert!(articles[1].regions.is_empty());
    }
}
