//! Rebuilds the store when a migration changes: `sqlx::migrate!` embeds the
//! files of the repository's `migrations/` at compile time.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
