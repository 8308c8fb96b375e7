//! Placing a fragmented plan on backends: picks an alive replica for every scanned tablet
//! (spreading reads evenly), gives every fragment its instances (one per backend) and the
//! coordinator backend of the root fragment, and writes each instance's plan: its scans'
//! tablets, its exchange ends' peers. Entry point: [`schedule`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_plan::ExecutionPlan;
use doris_common::fragment::{
    ExchangeEndpoint, ExchangeKind, ExchangeSinkExec, ExchangeSourceExec, OlapScanExec,
    OlapTableSinkExec, TabletRead,
};

use super::distribute::{nodes, sources, Dist, FragmentedPlan};
use crate::env::Env;
use crate::error::{FeError, Result};

/// One fragment's instances: where each runs and its plan.
#[derive(Debug)]
pub struct PlacedFragment {
    pub instances: Vec<ExchangeEndpoint>,
    pub plans: Vec<Arc<dyn ExecutionPlan>>,
}

/// Every fragment of a query, placed; `fragments[0]` (one instance) produces the result on
/// the coordinator backend.
#[derive(Debug)]
pub struct Schedule {
    pub fragments: Vec<PlacedFragment>,
}

impl Schedule {
    /// Every backend running a fragment instance of the query.
    pub fn backends(&self) -> Vec<ExchangeEndpoint> {
        let mut seen = BTreeMap::new();
        for f in &self.fragments {
            for e in &f.instances {
                seen.insert(e.backend_id, e.clone());
            }
        }
        seen.into_values().collect()
    }
}

fn backend_name(env: &Env, id: i64) -> String {
    env.catalog
        .read()
        .backends
        .get(&id)
        .map_or_else(|| format!("{id} (dropped)"), |b| b.endpoint())
}

/// Places `plan`'s fragments on the alive backends.
pub fn schedule(env: &Env, plan: &FragmentedPlan) -> Result<Schedule> {
    let alive: BTreeMap<i64, ExchangeEndpoint> = crate::cluster::backend_endpoints(env)
        .into_iter()
        .map(|e| (e.backend_id, e))
        .collect();
    // Tablet -> the replica to read, least-loaded first; bucket-aligned scans first.
    let mut reads: HashMap<i64, usize> = HashMap::new();
    let mut chosen: HashMap<i64, i64> = HashMap::new();
    let found: Vec<Vec<&OlapScanExec>> = plan.fragments.iter().map(|f| nodes(&f.plan)).collect();
    let buckets = place_buckets(&found, &alive, &mut reads, &mut chosen)?;
    let mut fragment_scans = Vec::with_capacity(plan.fragments.len());
    for found in &found {
        let mut backends = BTreeSet::new();
        for scan in found {
            for t in &scan.spec.tablets {
                if let Some(b) = chosen.get(&t.tablet_id) {
                    backends.insert(*b);
                    continue;
                }
                let replica = t
                    .backends
                    .iter()
                    .filter(|b| alive.contains_key(b))
                    .min_by_key(|b| (reads.get(b).copied().unwrap_or(0), **b))
                    .copied()
                    .ok_or_else(|| {
                        let names: Vec<String> =
                            t.backends.iter().map(|b| backend_name(env, *b)).collect();
                        FeError::Backend(format!(
                            "no alive backend holds tablet {} of {}.{}: backend {} is not alive",
                            t.tablet_id,
                            scan.spec.db,
                            scan.spec.table,
                            names.join(", ")
                        ))
                    })?;
                *reads.entry(replica).or_default() += 1;
                chosen.insert(t.tablet_id, replica);
                backends.insert(replica);
            }
        }
        fragment_scans.push(backends);
    }
    let all: Vec<i64> = fragment_scans
        .iter()
        .flatten()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let coordinator = pick_coordinator(&all, &alive)?;
    let instances: Vec<Vec<i64>> = plan
        .fragments
        .iter()
        .zip(&fragment_scans)
        .map(|(f, scanned)| {
            let hashed_input = sources(&f.plan)
                .iter()
                .any(|s| s.spec.kind == ExchangeKind::Hash);
            let on: Vec<i64> = match f.dist {
                Dist::Single => vec![coordinator],
                Dist::Multi { .. } if hashed_input || scanned.is_empty() => all.clone(),
                Dist::Multi { .. } => scanned.iter().copied().collect(),
            };
            if on.is_empty() {
                vec![coordinator]
            } else {
                on
            }
        })
        .collect();
    let endpoint = |id: &i64| -> Result<ExchangeEndpoint> {
        alive.get(id).cloned().ok_or_else(|| {
            FeError::Backend(format!("backend {} is not alive", backend_name(env, *id)))
        })
    };
    // Exchange id -> (sending fragment, receiving fragment, senders send one stream each).
    let mut links: HashMap<u32, (usize, usize, bool)> = HashMap::new();
    for x in &plan.exchanges {
        let to = plan
            .receiver_of(x.id)
            .ok_or_else(|| FeError::Internal(format!("exchange {} has no receiver", x.id)))?;
        let per_sender = plan.fragments[x.from_fragment]
            .plan
            .downcast_ref::<ExchangeSinkExec>()
            .is_some_and(|s| s.spec.per_sender_partitions);
        links.insert(x.id, (x.from_fragment, to, per_sender));
    }
    let sink_backends: Vec<ExchangeEndpoint> = alive.values().cloned().collect();
    let mut fragments = Vec::with_capacity(plan.fragments.len());
    for (i, f) in plan.fragments.iter().enumerate() {
        let endpoints = instances[i]
            .iter()
            .map(endpoint)
            .collect::<Result<Vec<_>>>()?;
        let mut plans = Vec::with_capacity(endpoints.len());
        for (index, here) in endpoints.iter().enumerate() {
            let instance = Instance {
                index: index as u32,
                here,
                chosen: &chosen,
                buckets: &buckets,
                instances: &instances,
                links: &links,
                endpoint: &endpoint,
                sink_backends: &sink_backends,
            };
            plans.push(instance.specialize(Arc::clone(&f.plan))?);
        }
        fragments.push(PlacedFragment {
            instances: endpoints,
            plans,
        });
    }
    Ok(Schedule { fragments })
}

/// Where one bucket group's buckets are read: every tablet of bucket `b` (any partition,
/// any table of the group) on `backend_of[b]`, into its output partition `partition_of[b]`.
#[derive(Debug, Default)]
struct BucketPlacement {
    backend_of: Vec<Option<i64>>,
    partition_of: Vec<usize>,
}

/// Places the buckets of every bucket-aligned scan group (colocate and bucket-shuffle joins).
fn place_buckets(
    found: &[Vec<&OlapScanExec>],
    alive: &BTreeMap<i64, ExchangeEndpoint>,
    reads: &mut HashMap<i64, usize>,
    chosen: &mut HashMap<i64, i64>,
) -> Result<HashMap<u32, BucketPlacement>> {
    let mut groups: BTreeMap<u32, Vec<&OlapScanExec>> = BTreeMap::new();
    for scan in found.iter().flatten() {
        if let Some(g) = scan.spec.bucket_group {
            groups.entry(g).or_default().push(*scan);
        }
    }
    let mut out = HashMap::new();
    for (g, scans) in groups {
        let buckets = scans.iter().map(|s| s.spec.buckets).max().unwrap_or(0) as usize;
        let parallelism = scans
            .iter()
            .map(|s| s.spec.output_partitions)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut placement = BucketPlacement {
            backend_of: vec![None; buckets],
            partition_of: vec![0; buckets],
        };
        let mut per_backend: HashMap<i64, usize> = HashMap::new();
        for b in 0..buckets {
            let tablets: Vec<(&OlapScanExec, &TabletRead)> = scans
                .iter()
                .flat_map(|s| s.spec.tablets.iter().map(move |t| (*s, t)))
                .filter(|(_, t)| t.bucket as usize == b)
                .collect();
            let Some((first_scan, _)) = tablets.first() else {
                continue;
            };
            let mut candidates: Vec<i64> = alive.keys().copied().collect();
            for (_, t) in &tablets {
                candidates.retain(|c| {
                    t.backends.contains(c) && chosen.get(&t.tablet_id).is_none_or(|x| x == c)
                });
            }
            let backend = candidates
                .into_iter()
                .min_by_key(|b| (reads.get(b).copied().unwrap_or(0), *b))
                .ok_or_else(|| {
                    FeError::Backend(format!(
                        "no alive backend holds bucket {b} of {}.{} (and the tables joined with it)",
                        first_scan.spec.db, first_scan.spec.table
                    ))
                })?;
            for (_, t) in &tablets {
                chosen.insert(t.tablet_id, backend);
            }
            *reads.entry(backend).or_default() += 1;
            let rank = per_backend.entry(backend).or_default();
            placement.backend_of[b] = Some(backend);
            placement.partition_of[b] = *rank % parallelism;
            *rank += 1;
        }
        out.insert(g, placement);
    }
    Ok(out)
}

/// The backend running the root fragment: one of those holding the data (rotating across
/// queries), or any alive one when the query reads no tablets.
fn pick_coordinator(scanned: &[i64], alive: &BTreeMap<i64, ExchangeEndpoint>) -> Result<i64> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let candidates: Vec<i64> = if scanned.is_empty() {
        alive.keys().copied().collect()
    } else {
        scanned.to_vec()
    };
    if candidates.is_empty() {
        return Err(FeError::Backend(
            "no backend is alive to run the query".into(),
        ));
    }
    Ok(candidates[NEXT.fetch_add(1, Ordering::Relaxed) % candidates.len()])
}

/// One instance of a fragment, being written.
struct Instance<'a, F: Fn(&i64) -> Result<ExchangeEndpoint>> {
    index: u32,
    here: &'a ExchangeEndpoint,
    chosen: &'a HashMap<i64, i64>,
    buckets: &'a HashMap<u32, BucketPlacement>,
    instances: &'a [Vec<i64>],
    links: &'a HashMap<u32, (usize, usize, bool)>,
    endpoint: &'a F,
    sink_backends: &'a [ExchangeEndpoint],
}

impl<F: Fn(&i64) -> Result<ExchangeEndpoint>> Instance<'_, F> {
    fn link(&self, id: u32) -> Result<(usize, usize, bool)> {
        self.links
            .get(&id)
            .copied()
            .ok_or_else(|| FeError::Internal(format!("unknown exchange {id}")))
    }

    fn specialize(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let mut failure = None;
        let out = plan.transform_up(|node| match self.specialize_node(&node) {
            Ok(Some(new)) => Ok(Transformed::yes(new)),
            Ok(None) => Ok(Transformed::no(node)),
            Err(e) => {
                failure = Some(e);
                Ok(Transformed::no(node))
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(out.data),
        }
    }

    fn specialize_node(
        &self,
        node: &Arc<dyn ExecutionPlan>,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if let Some(scan) = node.downcast_ref::<OlapScanExec>() {
            let mut spec = scan.spec.clone();
            let here = self.here.backend_id;
            spec.tablets
                .retain(|t| self.chosen.get(&t.tablet_id) == Some(&here));
            if let Some(placement) = spec.bucket_group.and_then(|g| self.buckets.get(&g)) {
                for t in &mut spec.tablets {
                    t.partition = placement.partition_of.get(t.bucket as usize).copied();
                }
            }
            return Ok(Some(Arc::new(OlapScanExec::try_new(
                spec,
                Arc::clone(&scan.table_schema),
                scan.predicate.clone(),
            )?)));
        }
        if let Some(source) = node.downcast_ref::<ExchangeSourceExec>() {
            let (from, _, per_sender) = self.link(source.spec.exchange_id)?;
            let senders = self.instances[from].len();
            let mut spec = source.spec.clone();
            spec.receiver = self.index;
            spec.senders = senders as u32;
            if per_sender {
                spec.partitions = senders;
            }
            let properties = Arc::clone(source.properties());
            return Ok(Some(Arc::new(ExchangeSourceExec::new(spec, properties))));
        }
        if let Some(sink) = node.downcast_ref::<ExchangeSinkExec>() {
            let (_, to, per_sender) = self.link(sink.spec.exchange_id)?;
            let mut spec = sink.spec.clone();
            spec.sender = self.index;
            spec.local = Some(self.here.clone());
            spec.receivers = self.instances[to]
                .iter()
                .map(self.endpoint)
                .collect::<Result<_>>()?;
            if per_sender {
                let (from, _, _) = self.link(sink.spec.exchange_id)?;
                spec.partitions = self.instances[from].len();
            }
            if let Some(placement) = spec.bucket_group.and_then(|g| self.buckets.get(&g)) {
                let receivers = &self.instances[to];
                spec.bucket_targets = placement
                    .backend_of
                    .iter()
                    .zip(&placement.partition_of)
                    .map(|(be, p)| {
                        // A bucket nobody reads matches nothing: any receiver will do.
                        let r = be.and_then(|be| receivers.iter().position(|x| *x == be));
                        (r.unwrap_or(0) as u32, *p as u32)
                    })
                    .collect();
            }
            return Ok(Some(Arc::new(ExchangeSinkExec::new(
                spec,
                sink.keys.clone(),
                Arc::clone(&sink.input),
            ))));
        }
        if let Some(sink) = node.downcast_ref::<OlapTableSinkExec>() {
            let mut spec = sink.spec.clone();
            spec.backends = self.sink_backends.to_vec();
            return Ok(Some(Arc::new(OlapTableSinkExec::new(
                spec,
                Arc::clone(&sink.input),
            ))));
        }
        Ok(None)
    }
}
