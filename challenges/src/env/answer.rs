//! Finding the one answer block of a completion, shared by every environment.
//!
//! Whitespace here always means ASCII whitespace (space, tab, LF, FF, CR: Rust's
//! `is_ascii_whitespace`), never Unicode spaces, so ports agree on it.

/// The single `<TAG>...</TAG>` block of a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnswerBlock<'a> {
    /// Text between the tags, with surrounding ASCII whitespace removed.
    pub(crate) content: &'a str,
    /// True when only ASCII whitespace follows the closing tag.
    pub(crate) nothing_trailing: bool,
}

/// The block tagged `tag` (case-sensitive), if the completion has exactly one opening tag and
/// exactly one closing tag, with the opening one first. Anything else (no block, two blocks,
/// a stray or misordered tag) is `None`: an answer is never picked from several candidates.
pub(crate) fn single_block<'a>(completion: &'a str, tag: &str) -> Option<AnswerBlock<'a>> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    if completion.matches(&open).count() != 1 || completion.matches(&close).count() != 1 {
        return None;
    }
    let start = completion.find(&open)? + open.len();
    let end = completion.find(&close)?;
    if end < start {
        return None;
    }
    let trailing = &completion[end + close.len()..];
    Some(AnswerBlock {
        content: trim_ascii(&completion[start..end]),
        nothing_trailing: trailing.bytes().all(|b| b.is_ascii_whitespace()),
    })
}

fn trim_ascii(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_one_block() {
        let b = single_block("think... <A> 12 </A>\n", "A").expect("one block");
        assert_eq!(b.content, "12");
        assert!(b.nothing_trailing);
        let b = single_block("<A>1</A> and more", "A").expect("one block");
        assert!(!b.nothing_trailing);
    }

    #[test]
    fn rejects_zero_two_or_misordered_blocks() {
        for text in [
            "",
            "12",
            "<A>12",
            "12</A>",
            "</A>12<A>",
            "<A>1</A><A>2</A>",
            "<A><A>1</A>",
            "<A>1</A></A>",
            "<a>1</a>",
        ] {
            assert_eq!(single_block(text, "A"), None, "{text:?}");
        }
    }

    #[test]
    fn unicode_space_is_not_whitespace() {
        let b = single_block("<A>1</A>\u{a0}", "A").expect("one block");
        assert!(!b.nothing_trailing);
    }
}
