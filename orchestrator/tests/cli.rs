//! The `flick` command line as a user meets it: help texts, and clean one-line errors for
//! inputs that are not what they should be. These need no working decoder.

mod common;

use common::{assert_clean_error, flick, stderr, stdout_lines, with_path};
use flick_tests::vector;

#[test]
fn help_lists_the_subcommands() {
    let output = flick(["--help"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for word in ["decode", "dump-state", "info", "Examples"] {
        assert!(text.contains(word), "--help lacks {word:?}:\n{text}");
    }
    let output = flick(["decode", "--help"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for flag in ["--output", "--frame-md5", "--state", "--from", "--format"] {
        assert!(text.contains(flag), "decode --help lacks {flag}:\n{text}");
    }
    let output = flick(["dump-state", "--help"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("--after"));
}

#[test]
fn usage_errors_exit_with_status_2() {
    // No subcommand; an unknown flag; --state without --from.
    for args in [
        &[][..],
        &["decode", "x.ivf", "--bogus"][..],
        &["decode", "x.ivf", "--state", "s"][..],
    ] {
        let output = flick(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"));
    }
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file.ivf");
    for command in ["decode", "info"] {
        let output = flick(with_path(&[command], &missing, &[]));
        assert_clean_error(&output, &["cannot read", "no-such-file.ivf"]);
    }
    let state = dir.path().join("s");
    let output = flick(
        with_path(&["dump-state"], &missing, &["--after", "0", "-o"])
            .into_iter()
            .chain([state.into_os_string()]),
    );
    assert_clean_error(&output, &["cannot read"]);
}

#[test]
fn garbage_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.ivf");
    let bytes: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    for command in ["decode", "info"] {
        let output = flick(with_path(&[command], &garbage, &[]));
        assert_clean_error(&output, &["not a readable IVF file", "DKIF"]);
    }
    // An empty file, and a file header cut short.
    for contents in [&b""[..], &b"DKIF\0\0 \0VP80"[..]] {
        std::fs::write(&garbage, contents).unwrap();
        let output = flick(with_path(&["decode"], &garbage, &["--frame-md5"]));
        assert_clean_error(&output, &["truncated"]);
    }
}

#[test]
fn wrong_fourcc() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(vector(1)).unwrap();
    bytes[8..12].copy_from_slice(b"VP90");
    let path = dir.path().join("vp9.ivf");
    std::fs::write(&path, bytes).unwrap();
    let output = flick(with_path(&["decode"], &path, &["--frame-md5"]));
    assert_clean_error(&output, &["fourcc 'VP90'", "VP80"]);
    assert!(stdout_lines(&output).is_empty());
}

#[test]
fn truncated_ivf_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(vector(1)).unwrap();
    let path = dir.path().join("cut.ivf");
    // Inside the file header, inside the first frame header, inside frame data, mid-stream.
    for cut in [20, 40, 100, bytes.len() / 2] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        for args in [&["decode", "--frame-md5"][..], &["info"][..]] {
            let output = flick(with_path(&args[..1], &path, &args[1..]));
            assert_clean_error(&output, &["cut.ivf"]);
        }
    }
}
