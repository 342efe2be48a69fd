//! Writes the fuzz fixture and the seed corpora from real device<->server syncs:
//!
//! ```text
//! seed_corpus [FIXTURE_DIR [CORPUS_DIR]]     (defaults: fuzz/fixture, fuzz/corpus)
//! ```
//!
//! Seeds go to `CORPUS_DIR/<target>/seed-*`; older seeds are replaced, what the fuzzer added is
//! kept.

// Linked only so the sanitizer coverage hooks of a `cargo fuzz build` resolve.
use libfuzzer_sys as _;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let fixture = args.next().map_or_else(fieldsync_fuzz::fixture::dir, std::path::PathBuf::from);
    let corpus = args
        .next()
        .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"), std::path::PathBuf::from);
    let seeds = match fieldsync_fuzz::fixture::generate(&fixture) {
        Ok(seeds) => seeds,
        Err(e) => {
            eprintln!("seed_corpus: {e}");
            std::process::exit(1);
        }
    };
    for (target, inputs) in &seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus folder");
        for entry in std::fs::read_dir(&dir).expect("read the corpus folder").flatten() {
            if entry.file_name().to_string_lossy().starts_with("seed-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        for (name, bytes) in inputs {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
        }
        let bytes: usize = inputs.iter().map(|(_, b)| b.len()).sum();
        println!("{target}: {} seeds, {bytes} bytes", inputs.len());
    }
    println!("fixture: {}", fixture.display());
}
