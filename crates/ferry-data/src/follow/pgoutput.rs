//! A decoder of the `pgoutput` logical replication messages, protocol version 1 (PostgreSQL
//! docs, "Logical Replication Message Formats"). Every read is bounds-checked: malformed input
//! is a [`DataError::Protocol`], never a panic.

use crate::error::{DataError, Result};

/// Microseconds between the Unix epoch and Postgres' epoch (2000-01-01 UTC).
pub const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// One column value of a tuple.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// An unchanged TOASTed value: the target keeps its own.
    Unchanged,
    /// The value in its text form.
    Text(String),
}

/// A column of a [`Relation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    /// Part of the replica identity (key).
    pub key: bool,
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier.
    pub typmod: i32,
}

/// A relation's description, sent before its first change in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Relation OID on the source.
    pub id: u32,
    /// Schema (`pg_catalog` is sent as an empty string).
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// `relreplident`: `d`, `n`, `f` or `i`.
    pub replica_identity: u8,
    /// Published columns, in order.
    pub columns: Vec<RelColumn>,
}

/// The old row of an update or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple {
    /// Only the key columns are set (`K`).
    Key(Vec<Datum>),
    /// The whole old row (`O`, `REPLICA IDENTITY FULL`).
    Full(Vec<Datum>),
}

impl OldTuple {
    /// The values.
    pub fn values(&self) -> &[Datum] {
        match self {
            OldTuple::Key(v) | OldTuple::Full(v) => v,
        }
    }
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `B`: a transaction starts.
    Begin {
        /// The LSN of the commit record.
        final_lsn: u64,
        /// Commit time, microseconds since 2000-01-01 UTC.
        timestamp: i64,
        /// Transaction id.
        xid: u32,
    },
    /// `C`: the transaction committed.
    Commit {
        /// Flags (unused, 0).
        flags: u8,
        /// The LSN of the commit record.
        commit_lsn: u64,
        /// The end of the commit record: where the slot is advanced to once applied.
        end_lsn: u64,
        /// Commit time, microseconds since 2000-01-01 UTC.
        timestamp: i64,
    },
    /// `O`: the transaction came from another replication origin.
    Origin {
        /// LSN of the commit on the origin.
        lsn: u64,
        /// Origin name.
        name: String,
    },
    /// `R`: a relation's columns.
    Relation(Relation),
    /// `Y`: a type's name.
    Type {
        /// Type OID.
        oid: u32,
        /// Schema.
        namespace: String,
        /// Name.
        name: String,
    },
    /// `I`: a new row.
    Insert {
        /// Relation OID.
        relation: u32,
        /// The row.
        new: Vec<Datum>,
    },
    /// `U`: a changed row.
    Update {
        /// Relation OID.
        relation: u32,
        /// The old key or row, when the key changed or the identity is FULL.
        old: Option<OldTuple>,
        /// The new row (unchanged TOAST values as [`Datum::Unchanged`]).
        new: Vec<Datum>,
    },
    /// `D`: a deleted row.
    Delete {
        /// Relation OID.
        relation: u32,
        /// Its key or whole row.
        old: OldTuple,
    },
    /// `T`: tables emptied.
    Truncate {
        /// Bit 1: CASCADE, bit 2: RESTART IDENTITY.
        options: u8,
        /// Relation OIDs.
        relations: Vec<u32>,
    },
    /// `M`: a logical decoding message (`pg_logical_emit_message`).
    LogicalMessage {
        /// Whether it was transactional.
        transactional: bool,
        /// Its LSN.
        lsn: u64,
        /// Its prefix.
        prefix: String,
        /// Its content.
        content: Vec<u8>,
    },
}

/// Decodes one message (one `data` value of `pg_logical_slot_peek_binary_changes`).
pub fn decode(bytes: &[u8]) -> Result<Message> {
    let mut r = Reader { bytes, pos: 0 };
    let kind = r.u8("message type")?;
    let message = match kind {
        b'B' => Message::Begin {
            final_lsn: r.u64("Begin final LSN")?,
            timestamp: r.i64("Begin timestamp")?,
            xid: r.u32("Begin xid")?,
        },
        b'C' => Message::Commit {
            flags: r.u8("Commit flags")?,
            commit_lsn: r.u64("Commit LSN")?,
            end_lsn: r.u64("Commit end LSN")?,
            timestamp: r.i64("Commit timestamp")?,
        },
        b'O' => Message::Origin {
            lsn: r.u64("Origin LSN")?,
            name: r.string("Origin name")?,
        },
        b'R' => {
            let id = r.u32("Relation id")?;
            let namespace = r.string("Relation namespace")?;
            let name = r.string("Relation name")?;
            let replica_identity = r.u8("Relation replica identity")?;
            let count = r.i16("Relation column count")?;
            let count = usize::try_from(count).map_err(|_| bad("negative column count"))?;
            let mut columns = Vec::with_capacity(count.min(1664));
            for _ in 0..count {
                columns.push(RelColumn {
                    key: r.u8("column flags")? & 1 == 1,
                    name: r.string("column name")?,
                    type_oid: r.u32("column type")?,
                    typmod: r.i32("column typmod")?,
                });
            }
            Message::Relation(Relation {
                id,
                namespace,
                name,
                replica_identity,
                columns,
            })
        }
        b'Y' => Message::Type {
            oid: r.u32("Type oid")?,
            namespace: r.string("Type namespace")?,
            name: r.string("Type name")?,
        },
        b'I' => {
            let relation = r.u32("Insert relation")?;
            match r.u8("Insert tuple marker")? {
                b'N' => {}
                other => return Err(bad(&format!("Insert: expected `N`, got 0x{other:02x}"))),
            }
            Message::Insert {
                relation,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let relation = r.u32("Update relation")?;
            let mut old = None;
            let new = loop {
                match r.u8("Update tuple marker")? {
                    b'K' if old.is_none() => old = Some(OldTuple::Key(r.tuple()?)),
                    b'O' if old.is_none() => old = Some(OldTuple::Full(r.tuple()?)),
                    b'N' => break r.tuple()?,
                    other => {
                        return Err(bad(&format!(
                            "Update: unexpected tuple marker 0x{other:02x}"
                        )));
                    }
                }
            };
            Message::Update { relation, old, new }
        }
        b'D' => {
            let relation = r.u32("Delete relation")?;
            let old = match r.u8("Delete tuple marker")? {
                b'K' => OldTuple::Key(r.tuple()?),
                b'O' => OldTuple::Full(r.tuple()?),
                other => {
                    return Err(bad(&format!(
                        "Delete: expected `K` or `O`, got 0x{other:02x}"
                    )));
                }
            };
            Message::Delete { relation, old }
        }
        b'T' => {
            let count = r.u32("Truncate relation count")?;
            let options = r.u8("Truncate options")?;
            let count = usize::try_from(count).map_err(|_| bad("relation count"))?;
            if count > r.remaining() / 4 {
                return Err(bad("Truncate: more relations than bytes"));
            }
            let mut relations = Vec::with_capacity(count);
            for _ in 0..count {
                relations.push(r.u32("Truncate relation")?);
            }
            Message::Truncate { options, relations }
        }
        b'M' => {
            let transactional = r.u8("Message flags")? & 1 == 1;
            let lsn = r.u64("Message LSN")?;
            let prefix = r.string("Message prefix")?;
            let len = r.u32("Message length")?;
            let content = r.take(len as usize, "Message content")?.to_vec();
            Message::LogicalMessage {
                transactional,
                lsn,
                prefix,
                content,
            }
        }
        other => return Err(bad(&format!("unknown message type 0x{other:02x}"))),
    };
    if r.remaining() != 0 {
        return Err(bad(&format!(
            "{} trailing bytes after a `{}` message",
            r.remaining(),
            kind as char
        )));
    }
    Ok(message)
}

fn bad(reason: &str) -> DataError {
    DataError::Protocol {
        reason: format!("malformed pgoutput message: {reason}"),
    }
}

/// Formats an LSN as Postgres prints it (`16/B374D848`).
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// Parses `X/X`.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    if high > u64::from(u32::MAX) || low > u64::from(u32::MAX) {
        return None;
    }
    Some((high << 32) | low)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(bad(&format!(
                "{what}: needs {n} bytes, {} left",
                self.remaining()
            )));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn i16(&mut self, what: &str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad(&format!("{what}: string without its NUL terminator")))?;
        let text = std::str::from_utf8(&rest[..end])
            .map_err(|_| bad(&format!("{what}: not UTF-8")))?
            .to_string();
        self.pos += end + 1;
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<Datum>> {
        let count = self.i16("tuple column count")?;
        let count = usize::try_from(count).map_err(|_| bad("negative tuple column count"))?;
        if count > self.remaining() {
            return Err(bad("tuple: more columns than bytes"));
        }
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(match self.u8("tuple value kind")? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' => {
                    let len = self.i32("text value length")?;
                    let len = usize::try_from(len).map_err(|_| bad("negative value length"))?;
                    let raw = self.take(len, "text value")?;
                    Datum::Text(
                        std::str::from_utf8(raw)
                            .map_err(|_| bad("a text value is not UTF-8"))?
                            .to_string(),
                    )
                }
                b'b' => return Err(bad("binary tuple values were not requested")),
                other => return Err(bad(&format!("unknown tuple value kind 0x{other:02x}"))),
            });
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests;
