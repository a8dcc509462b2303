//! Hand-built pgoutput messages, one per kind, and malformed ones.

use super::*;

fn s(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

fn text(out: &mut Vec<u8>, value: &str) {
    out.push(b't');
    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

fn tuple_id_name(out: &mut Vec<u8>) {
    out.extend_from_slice(&3i16.to_be_bytes());
    text(out, "42");
    out.push(b'n');
    out.push(b'u');
}

fn expected_tuple() -> Vec<Datum> {
    vec![Datum::Text("42".into()), Datum::Null, Datum::Unchanged]
}

#[test]
fn begin_and_commit() {
    let mut b = vec![b'B'];
    b.extend_from_slice(&0x0000_0001_0000_0010u64.to_be_bytes());
    b.extend_from_slice(&123_456i64.to_be_bytes());
    b.extend_from_slice(&77u32.to_be_bytes());
    assert_eq!(
        decode(&b).expect("begin"),
        Message::Begin {
            final_lsn: 0x1_0000_0010,
            timestamp: 123_456,
            xid: 77
        }
    );
    let mut c = vec![b'C', 0];
    c.extend_from_slice(&5u64.to_be_bytes());
    c.extend_from_slice(&9u64.to_be_bytes());
    c.extend_from_slice(&(-1i64).to_be_bytes());
    assert_eq!(
        decode(&c).expect("commit"),
        Message::Commit {
            flags: 0,
            commit_lsn: 5,
            end_lsn: 9,
            timestamp: -1
        }
    );
}

#[test]
fn origin_type_and_message() {
    let mut o = vec![b'O'];
    o.extend_from_slice(&3u64.to_be_bytes());
    s(&mut o, "node_a");
    assert_eq!(
        decode(&o).expect("origin"),
        Message::Origin {
            lsn: 3,
            name: "node_a".into()
        }
    );
    let mut y = vec![b'Y'];
    y.extend_from_slice(&16_400u32.to_be_bytes());
    s(&mut y, "public");
    s(&mut y, "mood");
    assert_eq!(
        decode(&y).expect("type"),
        Message::Type {
            oid: 16_400,
            namespace: "public".into(),
            name: "mood".into()
        }
    );
    let mut m = vec![b'M', 1];
    m.extend_from_slice(&8u64.to_be_bytes());
    s(&mut m, "ferry");
    m.extend_from_slice(&2u32.to_be_bytes());
    m.extend_from_slice(b"hi");
    assert_eq!(
        decode(&m).expect("message"),
        Message::LogicalMessage {
            transactional: true,
            lsn: 8,
            prefix: "ferry".into(),
            content: b"hi".to_vec()
        }
    );
}

#[test]
fn relation() {
    let mut r = vec![b'R'];
    r.extend_from_slice(&16_384u32.to_be_bytes());
    s(&mut r, "public");
    s(&mut r, "orders");
    r.push(b'd');
    r.extend_from_slice(&2i16.to_be_bytes());
    r.push(1);
    s(&mut r, "id");
    r.extend_from_slice(&20u32.to_be_bytes());
    r.extend_from_slice(&(-1i32).to_be_bytes());
    r.push(0);
    s(&mut r, "total");
    r.extend_from_slice(&1700u32.to_be_bytes());
    r.extend_from_slice(&655_366i32.to_be_bytes());
    let Message::Relation(rel) = decode(&r).expect("relation") else {
        panic!("not a relation")
    };
    assert_eq!(rel.id, 16_384);
    assert_eq!(
        (rel.namespace.as_str(), rel.name.as_str()),
        ("public", "orders")
    );
    assert_eq!(rel.replica_identity, b'd');
    assert_eq!(
        rel.columns,
        vec![
            RelColumn {
                key: true,
                name: "id".into(),
                type_oid: 20,
                typmod: -1
            },
            RelColumn {
                key: false,
                name: "total".into(),
                type_oid: 1700,
                typmod: 655_366
            }
        ]
    );
}

#[test]
fn insert_update_delete() {
    let mut i = vec![b'I'];
    i.extend_from_slice(&7u32.to_be_bytes());
    i.push(b'N');
    tuple_id_name(&mut i);
    assert_eq!(
        decode(&i).expect("insert"),
        Message::Insert {
            relation: 7,
            new: expected_tuple()
        }
    );

    let mut u = vec![b'U'];
    u.extend_from_slice(&7u32.to_be_bytes());
    u.push(b'N');
    tuple_id_name(&mut u);
    assert_eq!(
        decode(&u).expect("update"),
        Message::Update {
            relation: 7,
            old: None,
            new: expected_tuple()
        }
    );
    for (marker, wrap) in [
        (b'K', OldTuple::Key as fn(Vec<Datum>) -> OldTuple),
        (b'O', OldTuple::Full),
    ] {
        let mut u = vec![b'U'];
        u.extend_from_slice(&7u32.to_be_bytes());
        u.push(marker);
        tuple_id_name(&mut u);
        u.push(b'N');
        tuple_id_name(&mut u);
        assert_eq!(
            decode(&u).expect("update with old"),
            Message::Update {
                relation: 7,
                old: Some(wrap(expected_tuple())),
                new: expected_tuple()
            }
        );
        let mut d = vec![b'D'];
        d.extend_from_slice(&7u32.to_be_bytes());
        d.push(marker);
        tuple_id_name(&mut d);
        assert_eq!(
            decode(&d).expect("delete"),
            Message::Delete {
                relation: 7,
                old: wrap(expected_tuple())
            }
        );
    }
}

#[test]
fn truncate() {
    let mut t = vec![b'T'];
    t.extend_from_slice(&2u32.to_be_bytes());
    t.push(3);
    t.extend_from_slice(&10u32.to_be_bytes());
    t.extend_from_slice(&11u32.to_be_bytes());
    assert_eq!(
        decode(&t).expect("truncate"),
        Message::Truncate {
            options: 3,
            relations: vec![10, 11]
        }
    );
}

#[test]
fn malformed_input_is_a_typed_error() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![b'Z'],
        vec![b'B', 0, 0],
        // Commit cut short.
        vec![b'C', 0, 1, 2, 3],
        // Relation name without NUL.
        [vec![b'R'], 1u32.to_be_bytes().to_vec(), b"public".to_vec()].concat(),
        // Negative column count.
        [
            vec![b'R'],
            1u32.to_be_bytes().to_vec(),
            b"p\0t\0d".to_vec(),
            (-1i16).to_be_bytes().to_vec(),
        ]
        .concat(),
        // Insert without `N`.
        [vec![b'I'], 1u32.to_be_bytes().to_vec(), vec![b'X']].concat(),
        // Text value longer than the message.
        [
            vec![b'I'],
            1u32.to_be_bytes().to_vec(),
            vec![b'N'],
            1i16.to_be_bytes().to_vec(),
            vec![b't'],
            1000i32.to_be_bytes().to_vec(),
            b"ab".to_vec(),
        ]
        .concat(),
        // Negative value length.
        [
            vec![b'I'],
            1u32.to_be_bytes().to_vec(),
            vec![b'N'],
            1i16.to_be_bytes().to_vec(),
            vec![b't'],
            (-5i32).to_be_bytes().to_vec(),
        ]
        .concat(),
        // Unknown value kind, binary value.
        [
            vec![b'I'],
            1u32.to_be_bytes().to_vec(),
            vec![b'N'],
            1i16.to_be_bytes().to_vec(),
            vec![b'q'],
        ]
        .concat(),
        [
            vec![b'I'],
            1u32.to_be_bytes().to_vec(),
            vec![b'N'],
            1i16.to_be_bytes().to_vec(),
            vec![b'b'],
        ]
        .concat(),
        // Update with two old tuples, delete with `N`.
        [
            vec![b'U'],
            1u32.to_be_bytes().to_vec(),
            vec![b'K'],
            0i16.to_be_bytes().to_vec(),
            vec![b'K'],
        ]
        .concat(),
        [vec![b'D'], 1u32.to_be_bytes().to_vec(), vec![b'N']].concat(),
        // Truncate claiming a billion relations.
        [vec![b'T'], 1_000_000_000u32.to_be_bytes().to_vec(), vec![0]].concat(),
        // Trailing bytes.
        [vec![b'T'], 0u32.to_be_bytes().to_vec(), vec![0, 9]].concat(),
        // Invalid UTF-8 in a name.
        [
            vec![b'Y'],
            1u32.to_be_bytes().to_vec(),
            vec![0xff, 0],
            b"x\0".to_vec(),
        ]
        .concat(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        match decode(bytes) {
            Err(e) => assert_eq!(e.code(), "protocol", "case {i}"),
            Ok(m) => panic!("case {i} decoded as {m:?}"),
        }
    }
    // Every prefix of a valid message fails cleanly.
    let mut u = vec![b'U'];
    u.extend_from_slice(&7u32.to_be_bytes());
    u.push(b'O');
    tuple_id_name(&mut u);
    u.push(b'N');
    tuple_id_name(&mut u);
    for end in 0..u.len() {
        assert!(decode(&u[..end]).is_err(), "prefix {end}");
    }
}

#[test]
fn lsn_text() {
    assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
    assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
    assert_eq!(parse_lsn("0/0"), Some(0));
    assert_eq!(parse_lsn("zz"), None);
    assert_eq!(parse_lsn("1FFFFFFFF/0"), None);
}
