//! Property tests of the co-editing rules: whatever two people send, in any order, the
//! document still compiles to HTML, a locked property never changes, and a section leased by
//! one person is never changed by the other.

use facteur_collab::{Actor, Block, BlockKind, Column, Document, Group, Op, Section, apply};
use facteur_template::blocks::{Props, SectionKind};
use proptest::prelude::*;

const IDS: [&str; 12] = [
    "s1", "s2", "s3", "c1", "c2", "c3", "b1", "b2", "b3", "b4", "b5", "body",
];

fn id() -> impl Strategy<Value = String> {
    prop::sample::select(&IDS[..]).prop_map(str::to_string)
}

fn kind() -> impl Strategy<Value = BlockKind> {
    prop::sample::select(&BlockKind::ALL[..])
}

fn value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("#ff0000".to_string())),
        Just(Some(
            "<p>Hi <b>{{var:name}}</b><script>x</script></p>".to_string()
        )),
        Just(Some("\"><mj-raw>".to_string())),
        Just(Some("20px".to_string())),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "html", "color", "text", "href", "src", "padding", "expr", "source",
        ][..],
    )
    .prop_map(str::to_string)
}

fn block(id: String, kind: BlockKind) -> Block {
    let mut b = Block::new(id, kind);
    match kind {
        BlockKind::Text => b = b.with("html", "<p>text</p>"),
        BlockKind::If => b = b.with("expr", "var:vip"),
        BlockKind::For => b = b.with("expr", "item in var:items"),
        BlockKind::Image => b = b.with("src", "https://example.com/a.png"),
        _ => {}
    }
    b
}

fn op() -> impl Strategy<Value = Op> {
    let group = prop_oneof![Just(Group::Content), Just(Group::Style)];
    prop_oneof![
        (id(), group, key(), value()).prop_map(|(target, group, key, value)| Op::Set {
            target,
            group,
            key,
            value
        }),
        (id(), 0..3usize, id(), kind()).prop_map(|(into, index, bid, k)| Op::InsertBlock {
            into,
            index,
            block: block(bid, k)
        }),
        (id(), id(), 0..3usize).prop_map(|(block, into, index)| Op::MoveBlock {
            block,
            into,
            index
        }),
        id().prop_map(|block| Op::DeleteBlock { block }),
        (0..3usize, id(), id(), prop::bool::ANY).prop_map(|(index, sid, cid, verbatim)| {
            Op::InsertSection {
                index,
                section: Section {
                    id: sid,
                    kind: if verbatim {
                        SectionKind::Mjml
                    } else {
                        SectionKind::Section
                    },
                    style: Props::new(),
                    content: if verbatim {
                        Props::from([("source".into(), "<mj-spacer/>".into())])
                    } else {
                        Props::new()
                    },
                    lock: Default::default(),
                    columns: if verbatim {
                        vec![]
                    } else {
                        vec![Column {
                            id: cid,
                            style: Props::new(),
                            blocks: vec![],
                        }]
                    },
                },
            }
        }),
        (id(), 0..3usize).prop_map(|(section, index)| Op::MoveSection { section, index }),
        id().prop_map(|section| Op::DeleteSection { section }),
        (id(), 0..3usize, id()).prop_map(|(section, index, cid)| Op::InsertColumn {
            section,
            index,
            column: Column {
                id: cid,
                style: Props::new(),
                blocks: vec![]
            }
        }),
        id().prop_map(|column| Op::DeleteColumn { column }),
        (id(), prop::bool::ANY, prop::bool::ANY).prop_map(|(section, style, content)| {
            Op::Lock {
                section,
                style,
                content,
            }
        }),
    ]
}

/// The HTML of every text block (raw HTML and verbatim MJML are not sanitised, by design).
fn text_html(doc: &Document) -> String {
    fn walk(bs: &[Block], out: &mut String) {
        for b in bs {
            if b.kind == BlockKind::Text {
                out.push_str(b.content.get("html").map_or("", String::as_str));
            }
            walk(&b.children, out);
        }
    }
    let mut out = String::new();
    for s in &doc.sections {
        for c in &s.columns {
            walk(&c.blocks, &mut out);
        }
    }
    out
}

/// The style properties of a section and of everything in it, by id.
fn styles(s: &Section) -> std::collections::BTreeMap<String, Props> {
    fn blocks(bs: &[Block], out: &mut std::collections::BTreeMap<String, Props>) {
        for b in bs {
            out.insert(b.id.clone(), b.style.clone());
            blocks(&b.children, out);
        }
    }
    let mut out = std::collections::BTreeMap::from([(s.id.clone(), s.style.clone())]);
    for c in &s.columns {
        out.insert(c.id.clone(), c.style.clone());
        blocks(&c.blocks, &mut out);
    }
    out
}

/// What a content lock protects in one section: its content properties and its structure.
fn fingerprint(s: &Section, group: Group) -> String {
    fn blocks(bs: &[Block], group: Group, out: &mut String) {
        for b in bs {
            match group {
                Group::Style => out.push_str(&format!("{}{:?};", b.id, b.style)),
                Group::Content => out.push_str(&format!("{}{:?}[", b.id, b.content)),
            }
            blocks(&b.children, group, out);
            out.push(']');
        }
    }
    let mut out = String::new();
    match group {
        Group::Style => out.push_str(&format!("{:?}", s.style)),
        Group::Content => out.push_str(&format!("{:?}", s.content)),
    }
    for c in &s.columns {
        match group {
            Group::Style => out.push_str(&format!("{}{:?}", c.id, c.style)),
            Group::Content => out.push_str(&c.id),
        }
        blocks(&c.blocks, group, &mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn two_people_any_operations(
        ops in prop::collection::vec((prop::bool::ANY, op()), 1..60),
        leased_by_a in prop::collection::vec(prop::sample::select(&["s1", "s2", "s3"][..]), 0..2),
    ) {
        // A holds some leases and may lock; B may only edit.
        let a = Actor { user: 1, can_edit: true, can_lock: true };
        let b = Actor { user: 2, can_edit: true, can_lock: false };
        let holder = |s: &str| leased_by_a.contains(&s).then_some(1);
        let mut doc = Document::default();
        for (by_a, op) in ops {
            let actor = if by_a { a } else { b };
            let before = doc.clone();
            let was_lock = matches!(op, Op::Lock { .. });
            match apply(&mut doc, op, &actor, &holder) {
                Err(_) => prop_assert_eq!(&doc, &before, "a refused operation changes nothing"),
                Ok(applied) => {
                    // The document still compiles.
                    let mjml = doc.to_mjml();
                    prop_assert!(facteur_template::mjml::to_html(&mjml).is_ok(), "{}", mjml);
                    prop_assert!(
                        !text_html(&doc).contains("<script"),
                        "text blocks are sanitised: {}",
                        mjml
                    );
                    if was_lock {
                        prop_assert!(actor.can_lock);
                    }
                    for s in &before.sections {
                        let Some(after) = doc.sections.iter().find(|x| x.id == s.id) else {
                            prop_assert!(!s.lock.any(), "a locked section was deleted");
                            continue;
                        };
                        if !by_a && leased_by_a.contains(&s.id.as_str()) {
                            prop_assert_eq!(s, after, "B changed A's section: {:?}", applied);
                        }
                        if was_lock {
                            continue;
                        }
                        if s.lock.style {
                            // Every element still there kept its style.
                            let (old, new) = (styles(s), styles(after));
                            for (id, style) in &old {
                                if let Some(now) = new.get(id) {
                                    prop_assert_eq!(style, now, "style of {} changed", id);
                                }
                            }
                        }
                        if s.lock.content {
                            prop_assert_eq!(fingerprint(s, Group::Content), fingerprint(after, Group::Content));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn refusals_name_their_reason() {
    let owner = Actor {
        user: 1,
        can_edit: true,
        can_lock: true,
    };
    let marketer = Actor {
        user: 2,
        can_edit: true,
        can_lock: false,
    };
    let viewer = Actor {
        user: 3,
        can_edit: false,
        can_lock: false,
    };
    let free = |_: &str| None;
    let mut doc = facteur_collab::import(
        "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>",
    );
    assert_eq!(doc.ids(), ["s1", "c2", "b3"]);
    let set = |key: &str, group| Op::Set {
        target: "b3".into(),
        group,
        key: key.into(),
        value: Some("x".into()),
    };
    assert_eq!(
        apply(&mut doc, set("color", Group::Style), &viewer, &free)
            .unwrap_err()
            .code(),
        "role"
    );
    let lock = Op::Lock {
        section: "s1".into(),
        style: true,
        content: false,
    };
    assert_eq!(
        apply(&mut doc, lock.clone(), &marketer, &free)
            .unwrap_err()
            .code(),
        "role"
    );
    apply(&mut doc, lock, &owner, &free).expect("the owner locks");
    let e = apply(&mut doc, set("color", Group::Style), &marketer, &free).unwrap_err();
    assert_eq!(e.code(), "locked");
    assert_eq!(e.to_string(), "The style of this section is locked.");
    // Content stays open.
    apply(&mut doc, set("html", Group::Content), &marketer, &free).expect("content is free");
    let held = |s: &str| (s == "s1").then_some(1);
    let e = apply(&mut doc, set("html", Group::Content), &marketer, &held).unwrap_err();
    assert_eq!(e.code(), "lease");
    let e = apply(&mut doc, set("nope", Group::Content), &owner, &free).unwrap_err();
    assert_eq!(e.code(), "invalid");
    // Verbatim MJML that would break the document is refused (found by the property test).
    let broken = Op::InsertSection {
        index: 0,
        section: Section {
            id: "v1".into(),
            kind: SectionKind::Mjml,
            style: Props::new(),
            content: Props::from([("source".into(), "\"><mj-raw>".into())]),
            lock: Default::default(),
            columns: vec![],
        },
    };
    let e = apply(&mut doc, broken, &owner, &free).unwrap_err();
    assert_eq!(e.code(), "invalid");
    assert!(e.to_string().contains("no longer compiles"), "{e}");
    let e = apply(
        &mut doc,
        Op::DeleteSection {
            section: "s1".into(),
        },
        &owner,
        &free,
    )
    .unwrap_err();
    assert_eq!(e.code(), "locked");
}
