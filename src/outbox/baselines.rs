//! Learned baselines kept beside the records: the `baselines` and `baseline_requests`
//! databases of the outbox environment.
//!
//! - `baselines`: key `detector/asset`, value format byte `1` + the CBOR of the
//!   [`Record::Baseline`], the latest baseline per detector and asset. The writer stores it
//!   in the transaction that appends the same record for Kafka ([`Outbox::append`]), so what
//!   the center was sent and what the next start scores with are one commit. Not charged to
//!   the budget and never evicted: one entry per detector and asset, at most a few hundred
//!   KiB each ([`crate::config::MAX_DETECTOR_INPUTS`] inputs).
//! - `baseline_requests`: key `detector/asset`, value the CBOR of the latest [`Request`]
//!   (`forewarn baseline reset|relearn|import`); `meta` key `baselines.requests` counts them,
//!   so the running agent notices a new one with one read ([`Outbox::baseline_requests`]).
//!
//! [`Store`] is the same two databases opened by the `forewarn baseline` command, in its own
//! process, beside a running agent or before the first start (LMDB serialises the writers of
//! both processes). A damaged outbox that is set aside takes its baselines with it; the
//! detectors then learn again (and `baseline import` can bring one back from an export).

use std::path::Path;

use heed::byteorder::BE;
use heed::types::{Bytes, Str, U64};
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, RoTxn};
use serde::{Deserialize, Serialize};

use super::read::decode;
use super::{codec, Outbox, OutboxError, FORMAT_V1};
use crate::record::{BaselineRecord, Record};

pub(super) type KeyedDb = Database<'static, Str, Bytes>;
type MetaDb = Database<'static, Str, U64<BE>>;

/// The databases' names.
pub(super) const BASELINES: &str = "baselines";
pub(super) const REQUESTS_DB: &str = "baseline_requests";
/// The `meta` counter of requests ever made.
const REQUESTS: &str = "baselines.requests";

/// What `forewarn baseline` asks of the running agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Forget the baseline; learn from the next step.
    Reset,
    /// Learn a new baseline while the current one keeps scoring.
    Relearn,
    /// Score with the baseline the request stored.
    Import,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The value of `baselines.requests` it was made at (1, 2, ...).
    pub id: u64,
    /// Wall clock when it was made.
    pub at_ns: i64,
    pub detector: String,
    pub asset: String,
    pub action: Action,
}

/// The two databases (and `meta`), as the agent's outbox and the command open them.
#[derive(Clone, Copy)]
pub(super) struct Dbs {
    pub(super) baselines: KeyedDb,
    pub(super) requests: KeyedDb,
}

impl Dbs {
    /// Every stored baseline, by key; undecodable entries are named in a warning and skipped
    /// (the detector learns again).
    fn list(&self, txn: &RoTxn) -> Result<Vec<BaselineRecord>, OutboxError> {
        let mut out = Vec::new();
        for item in self.baselines.iter(txn)? {
            let (key, bytes) = item?;
            match decode(bytes) {
                Some(Record::Baseline(b)) => out.push(*b),
                _ => tracing::warn!(key, "A stored baseline does not decode; it is not used."),
            }
        }
        Ok(out)
    }

    fn requests_after(&self, txn: &RoTxn, after: u64) -> Result<Vec<Request>, OutboxError> {
        let mut out: Vec<Request> = Vec::new();
        for item in self.requests.iter(txn)? {
            let (_, bytes) = item?;
            if let Ok(r) = codec::from_cbor::<Request>(bytes) {
                if r.id > after {
                    out.push(r);
                }
            }
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }
}

/// The stored value of a baseline: as the outbox stores its record.
pub(super) fn encode(b: &BaselineRecord) -> Result<Vec<u8>, OutboxError> {
    let mut v = vec![FORMAT_V1];
    v.extend_from_slice(&codec::to_cbor(&Record::Baseline(Box::new(b.clone())))?);
    Ok(v)
}

impl Outbox {
    /// Every stored baseline.
    pub fn stored_baselines(&self) -> Result<Vec<BaselineRecord>, OutboxError> {
        let _gate = self.gate.read().map_err(|_| OutboxError::Poisoned)?;
        let rtxn = self.env.read_txn()?;
        self.baseline_dbs.list(&rtxn)
    }

    /// The request counter, and the requests made after `after` (oldest first) with the
    /// baseline each one's key now has.
    #[allow(clippy::type_complexity)]
    pub fn baseline_requests(
        &self,
        after: u64,
    ) -> Result<(u64, Vec<(Request, Option<BaselineRecord>)>), OutboxError> {
        let _gate = self.gate.read().map_err(|_| OutboxError::Poisoned)?;
        let rtxn = self.env.read_txn()?;
        let n = self.meta.get(&rtxn, REQUESTS)?.unwrap_or(0);
        if n <= after {
            return Ok((n, Vec::new()));
        }
        let mut out = Vec::new();
        for r in self.baseline_dbs.requests_after(&rtxn, after)? {
            let key = crate::record::baseline_key(&r.detector, &r.asset);
            let stored = match self
                .baseline_dbs
                .baselines
                .get(&rtxn, &key)?
                .and_then(decode)
            {
                Some(Record::Baseline(b)) => Some(*b),
                _ => None,
            };
            out.push((r, stored));
        }
        Ok((n, out))
    }
}

/// The baselines of an outbox directory, for `forewarn baseline`.
pub struct Store {
    env: Env,
    dbs: Dbs,
    meta: MetaDb,
}

impl Store {
    /// Open (creating the environment if there is none yet, e.g. on a gateway not started).
    pub fn open(dir: &Path) -> Result<Store, OutboxError> {
        std::fs::create_dir_all(dir).map_err(|error| OutboxError::Dir {
            path: dir.to_path_buf(),
            error,
        })?;
        // LMDB raises a smaller map to what the file uses; the margin is for this command's
        // own writes (a baseline is at most a few hundred KiB).
        let file = std::fs::metadata(dir.join("data.mdb")).map_or(0, |m| m.len());
        let map = usize::try_from(file.saturating_add(64 << 20)).unwrap_or(usize::MAX / 2);
        let mut options = EnvOpenOptions::new();
        options.map_size(map).max_dbs(16);
        // SAFETY: this process opens the environment once; LMDB's lock file serialises it with
        // the agent's writer, and nothing truncates the files while it is open.
        let env = unsafe { options.open(dir)? };
        let wtxn = env.write_txn()?;
        let (baselines, requests, meta) = env
            .create_databases_and_commit(wtxn, |dbo, wtxn| {
                let b: Database<Str, Bytes> = dbo.create_database(wtxn, Some(BASELINES))?;
                let r: Database<Str, Bytes> = dbo.create_database(wtxn, Some(REQUESTS_DB))?;
                let m: Database<Str, U64<BE>> = dbo.create_database(wtxn, Some("meta"))?;
                Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit((b, r, m)))
            })?
            .unwrap_commit();
        Ok(Store {
            env,
            dbs: Dbs {
                baselines,
                requests,
            },
            meta,
        })
    }

    pub fn list(&self) -> Result<Vec<BaselineRecord>, OutboxError> {
        let rtxn = self.env.read_txn()?;
        self.dbs.list(&rtxn)
    }

    pub fn get(&self, detector: &str, asset: &str) -> Result<Option<BaselineRecord>, OutboxError> {
        let rtxn = self.env.read_txn()?;
        let key = crate::record::baseline_key(detector, asset);
        Ok(
            match self.dbs.baselines.get(&rtxn, &key)?.and_then(decode) {
                Some(Record::Baseline(b)) => Some(*b),
                _ => None,
            },
        )
    }

    /// Requests not yet superseded, oldest first.
    pub fn requests(&self) -> Result<Vec<Request>, OutboxError> {
        let rtxn = self.env.read_txn()?;
        self.dbs.requests_after(&rtxn, 0)
    }

    /// Carry out `action` on the store and record it as a request for the running agent:
    /// `Reset` deletes the stored baseline, `Import` stores `import` (with the next
    /// generation), `Relearn` changes nothing stored. Returns the request.
    pub fn request(
        &self,
        detector: &str,
        asset: &str,
        action: Action,
        import: Option<BaselineRecord>,
    ) -> Result<Request, OutboxError> {
        let key = crate::record::baseline_key(detector, asset);
        let mut wtxn = self.env.write_txn()?;
        let current = match self.dbs.baselines.get(&wtxn, &key)?.and_then(decode) {
            Some(Record::Baseline(b)) => Some(*b),
            _ => None,
        };
        match action {
            Action::Reset => {
                self.dbs.baselines.delete(&mut wtxn, &key)?;
            }
            Action::Import => {
                if let Some(mut b) = import {
                    b.generation = current.as_ref().map_or(0, |c| c.generation) + 1;
                    self.dbs.baselines.put(&mut wtxn, &key, &encode(&b)?)?;
                }
            }
            Action::Relearn => {}
        }
        let id = self.meta.get(&wtxn, REQUESTS)?.unwrap_or(0) + 1;
        let r = Request {
            id,
            at_ns: crate::record::now_ns(),
            detector: detector.into(),
            asset: asset.into(),
            action,
        };
        let bytes = codec::to_cbor(&r)?;
        self.dbs.requests.put(&mut wtxn, &key, &bytes)?;
        self.meta.put(&mut wtxn, REQUESTS, &id)?;
        wtxn.commit()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::record::{BaselineLimits, BaselineTrigger, Class, PcaSummary, BASELINE_SCHEMA};

    fn baseline(asset: &str, generation: u64) -> BaselineRecord {
        BaselineRecord {
            schema: BASELINE_SCHEMA.into(),
            gateway: "gw".into(),
            site: "plant".into(),
            detector: "pump".into(),
            asset: asset.into(),
            generation,
            trigger: BaselineTrigger::Learned,
            created_ns: 1,
            method: "pca".into(),
            signals: vec!["a".into()],
            grid_secs: 10.0,
            samples_per_step: 1,
            features: None,
            learned_from_ns: 0,
            learned_to_ns: 10,
            steps: 100,
            pca: Some(PcaSummary {
                lags: 0,
                cumulative_variance: 0.95,
                components: 1,
                explained: 1.0,
                limits: BaselineLimits {
                    t2: 1.0,
                    q: 1.0,
                    t2_ewma: 1.0,
                    q_ewma: 1.0,
                },
            }),
            knn: None,
            stats: Vec::new(),
            learned_on: None,
            state: ciborium::Value::Array(vec![ciborium::Value::Float(1.5)]),
        }
    }

    #[test]
    fn an_appended_baseline_is_queued_for_kafka_and_kept_as_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = Outbox::open(dir.path(), 1 << 20, Durability::Full).unwrap();
            let r = |g| Record::Baseline(Box::new(baseline("p1", g)));
            o.append(&[r(1)]).unwrap();
            o.append(&[r(2), Record::Baseline(Box::new(baseline("p2", 1)))])
                .unwrap();
            assert_eq!(o.counters().class(Class::Status).count, 3);
            let stored = o.stored_baselines().unwrap();
            assert_eq!(stored.len(), 2);
            assert_eq!((stored[0].asset.as_str(), stored[0].generation), ("p1", 2));
            // Acknowledging the Kafka copies leaves the kept ones.
            let batch = o.read_after(Class::Status, 0, 10).unwrap();
            let seqs: Vec<u64> = batch.entries.iter().map(|e| e.seq).collect();
            o.ack(Class::Status, &seqs).unwrap();
            assert_eq!(o.stored_baselines().unwrap().len(), 2);
        }
        // The command's store, in place of the agent (the same process cannot hold both).
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get("pump", "p1").unwrap().unwrap().generation, 2);
        let reset = s.request("pump", "p1", Action::Reset, None).unwrap();
        assert_eq!(reset.id, 1);
        assert!(s.get("pump", "p1").unwrap().is_none());
        let mut imported = baseline("p1", 7);
        imported.trigger = BaselineTrigger::Imported;
        let import = s
            .request("pump", "p1", Action::Import, Some(imported))
            .unwrap();
        assert_eq!(import.id, 2);
        // The next generation after what was stored (none: 1).
        assert_eq!(s.get("pump", "p1").unwrap().unwrap().generation, 1);
        s.request("pump", "p2", Action::Relearn, None).unwrap();
        // The latest request per key.
        let rs = s.requests().unwrap();
        assert_eq!(rs.len(), 2, "{rs:?}");
        drop(s);

        let o = Outbox::open(dir.path(), 1 << 20, Durability::Full).unwrap();
        let (n, after) = o.baseline_requests(1).unwrap();
        assert_eq!(n, 3);
        let got: Vec<(u64, Action, bool)> = after
            .iter()
            .map(|(r, b)| (r.id, r.action, b.is_some()))
            .collect();
        assert_eq!(got, [(2, Action::Import, true), (3, Action::Relearn, true)]);
        let (n, none) = o.baseline_requests(3).unwrap();
        assert_eq!((n, none.len()), (3, 0));
    }
}
