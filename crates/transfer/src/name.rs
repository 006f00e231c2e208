//! A file name offered by a peer, made safe to save under.

/// The longest name [`safe_file_name`] returns, in bytes: below the common file system
/// limit of 255, leaving room for ` (n)` and a `.part` suffix while the file comes.
pub const MAX_NAME_BYTES: usize = 240;

/// The name to save an offered file under, in a folder of the user's choosing: the
/// offer's last path component (after `/` or `\`), without control characters or the
/// invisible characters that reorder text (a name that shows as `gpj.exe` but is
/// `exe.jpg`), without leading dots (no hidden file, no `..`) or spaces, without trailing
/// dots or spaces, at most [`MAX_NAME_BYTES`] bytes (cut before the extension, which is
/// kept); `file` when nothing is left. Never a path: it can only name a file in the
/// folder it is joined to.
pub fn safe_file_name(offered: &str) -> String {
    let last = offered.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|&c| !hidden_or_control(c)).collect();
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return "file".to_owned();
    }
    if trimmed.len() <= MAX_NAME_BYTES {
        return trimmed.to_owned();
    }
    // Too long: keep the extension (if short), cut the stem at a character boundary.
    let (stem, extension) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (trimmed, None),
    };
    let room = MAX_NAME_BYTES - extension.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = stem[..cut].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    match extension {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_owned(),
    }
}

/// Controls (C0, DEL, C1) and the bidirectional and zero-width format characters.
fn hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}' | '\u{061C}')
}

/// The `n`th alternative to `name` when a file of that name exists: `name (n).ext`, the
/// number before the extension, as file managers do (`name (n)` without one). A leading
/// dot never counts as an extension's.
pub fn numbered_name(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_is_kept() {
        assert_eq!(safe_file_name("naïve file.bin"), "naïve file.bin");
        assert_eq!(safe_file_name("report.tar.gz"), "report.tar.gz");
    }

    #[test]
    fn paths_are_cut_to_their_last_component() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("/etc/shadow"), "shadow");
        assert_eq!(safe_file_name("C:\\Windows\\evil.dll"), "evil.dll");
        assert_eq!(safe_file_name("dir/"), "file");
    }

    #[test]
    fn dots_controls_and_reordering_characters_go() {
        assert_eq!(safe_file_name(".."), "file");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name(" . hidden. "), "hidden");
        assert_eq!(safe_file_name("a\u{0}b\nc\u{7f}d\u{9b}e"), "abcde");
        assert_eq!(safe_file_name("photo\u{202E}gpj.exe"), "photogpj.exe");
        assert_eq!(safe_file_name(""), "file");
    }

    #[test]
    fn long_names_keep_their_extension_within_the_limit() {
        let long = format!("{}.pdf", "é".repeat(300));
        let safe = safe_file_name(&long);
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("é.pdf"), "{safe}");
        let no_extension = "x".repeat(1000);
        assert_eq!(safe_file_name(&no_extension).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn numbered_names_go_before_the_extension() {
        assert_eq!(numbered_name("a.txt", 1), "a (1).txt");
        assert_eq!(numbered_name("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered_name("README", 3), "README (3)");
        assert_eq!(numbered_name("bashrc.", 1), "bashrc. (1)");
    }
}
