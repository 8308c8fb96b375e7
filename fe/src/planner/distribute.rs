//! The distributed planner: cuts DataFusion's optimized physical plan into plan fragments
//! joined by exchanges, as Doris does. Entry point: [`fragment_plan`]; the
//! [`super::schedule`] module then places the fragments' instances on backends.
//!
//! DataFusion plans for one process with `P` partitions; its partition-crossing operators
//! are where data must cross backends:
//! - a hash `RepartitionExec` over distributed data becomes a hash exchange into `P`
//!   partitions of every receiving instance (a partitioned join's two sides and a final
//!   aggregation's input hash the same way, so equal keys meet on one instance);
//! - `CoalescePartitionsExec` and `SortPreservingMergeExec` over distributed data become a
//!   gather (for the merge: each instance merges its partitions, the receiver merges one
//!   sorted stream per sender), with any LIMIT applied on both sides;
//! - the build side of a hash join in `CollectLeft` mode (and of cross and nested-loop
//!   joins, and uncorrelated scalar subqueries) is broadcast to every instance of the probe
//!   side, unless the join must see the whole build side in one place to emit its unmatched
//!   rows (LEFT/FULL/semi/anti): such a hash join is turned into a partitioned one, with both
//!   sides hashed on the join keys;
//! - operators that need all rows in one partition (final aggregation without GROUP BY,
//!   global sort and limit, the table sink of INSERT) run on one instance after a gather;
//! - a partitioned join with a side that scans a table hash-distributed on exactly the join
//!   keys keeps that side in place: a colocate join when the other side scans the same
//!   table or one of its `colocate_with` group, else a bucket shuffle that sends the other
//!   side's rows to the backends holding their buckets.
//!
//! Every other operator runs where its input is, instance by instance. Scans are
//! distributed: each instance reads the tablets of its backend.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::JoinType;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode,
};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::scalar_subquery::ScalarSubqueryExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::{InterleaveExec, UnionExec};
use datafusion::physical_plan::{
    replace_children_if_necessary, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PhysicalExpr, PlanProperties,
};
use doris_common::fragment::{
    ExchangeKind, ExchangeSinkExec, ExchangeSinkSpec, ExchangeSourceExec, ExchangeSourceSpec,
    OlapScanExec, TabletRead,
};

use crate::error::{FeError, Result};

/// How a part of the plan's output is spread over instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// All of it on one instance.
    Single,
    /// Spread over several instances; `hashed`: by an exchange's hash of some keys, as the
    /// plan's partitioning says (so equal keys are on one instance).
    Multi { hashed: bool },
}

/// A plan fragment before placement.
#[derive(Debug)]
pub struct Fragment {
    /// Fragment 0 produces the query's result; every other ends in an exchange sink.
    pub plan: Arc<dyn ExecutionPlan>,
    pub dist: Dist,
}

/// An exchange before placement: which fragment sends into it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub id: u32,
    pub kind: ExchangeKind,
    pub from_fragment: usize,
}

/// A plan cut into fragments; fragment 0 is the root.
#[derive(Debug)]
pub struct FragmentedPlan {
    pub fragments: Vec<Fragment>,
    pub exchanges: Vec<Exchange>,
}

impl FragmentedPlan {
    /// The fragment reading exchange `id`.
    pub fn receiver_of(&self, id: u32) -> Option<usize> {
        self.fragments
            .iter()
            .position(|f| sources(&f.plan).iter().any(|s| s.spec.exchange_id == id))
    }
}

/// The exchange sources in a fragment's plan.
pub fn sources(plan: &Arc<dyn ExecutionPlan>) -> Vec<&ExchangeSourceExec> {
    nodes(plan)
}

/// Every node of type `T` in `plan`, top down.
pub fn nodes<T: ExecutionPlan + 'static>(plan: &Arc<dyn ExecutionPlan>) -> Vec<&T> {
    fn walk<'a, T: ExecutionPlan + 'static>(
        plan: &'a Arc<dyn ExecutionPlan>,
        out: &mut Vec<&'a T>,
    ) {
        if let Some(n) = plan.downcast_ref::<T>() {
            out.push(n);
        }
        for c in plan.children() {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    walk(plan, &mut out);
    out
}

/// Cuts `plan` (planned for `parallelism` partitions per instance) into fragments.
pub fn fragment_plan(
    plan: Arc<dyn ExecutionPlan>,
    query_id: &str,
    parallelism: usize,
) -> Result<FragmentedPlan> {
    let mut b = Builder {
        query_id: query_id.to_string(),
        parallelism: parallelism.max(1),
        fragments: vec![None],
        exchanges: Vec::new(),
        bucket_groups: 0,
    };
    let mut root = b.rewrite(plan)?;
    if root.dist != Dist::Single {
        root = b.gather(root, None)?;
    }
    b.fragments[0] = Some(Fragment {
        plan: root.plan,
        dist: Dist::Single,
    });
    let fragments = b
        .fragments
        .into_iter()
        .map(|f| f.ok_or_else(|| FeError::Internal("a fragment was not built".into())))
        .collect::<Result<_>>()?;
    Ok(FragmentedPlan {
        fragments,
        exchanges: b.exchanges,
    })
}

struct Part {
    plan: Arc<dyn ExecutionPlan>,
    dist: Dist,
}

struct Builder {
    query_id: String,
    parallelism: usize,
    fragments: Vec<Option<Fragment>>,
    exchanges: Vec<Exchange>,
    bucket_groups: u32,
}

/// Join types whose result depends on the whole build (left) side being seen by one
/// operator: the unmatched or matched-once build rows are emitted at the end.
fn emits_build_side(join_type: JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Left
            | JoinType::LeftAnti
            | JoinType::LeftSemi
            | JoinType::LeftMark
            | JoinType::Full
    )
}

/// Properties of a one-partition stream of `plan`'s rows in no particular order.
fn single_stream_properties(plan: &Arc<dyn ExecutionPlan>) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(plan.schema()),
        Partitioning::UnknownPartitioning(1),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

fn rebuild(plan: &Arc<dyn ExecutionPlan>, parts: &[Part]) -> Result<Arc<dyn ExecutionPlan>> {
    let children: Vec<Arc<dyn ExecutionPlan>> = parts.iter().map(|p| Arc::clone(&p.plan)).collect();
    Ok(replace_children_if_necessary(Arc::clone(plan), children)?)
}

impl Builder {
    fn rewrite(&mut self, plan: Arc<dyn ExecutionPlan>) -> Result<Part> {
        if plan.is::<OlapScanExec>() {
            return Ok(Part {
                plan,
                dist: Dist::Multi { hashed: false },
            });
        }
        if plan.is::<RecursiveQueryExec>() {
            return Err(FeError::NotSupported(
                "recursive queries (WITH RECURSIVE) that read tables".into(),
            ));
        }
        if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
            if join.mode == PartitionMode::Partitioned && !join.null_aware {
                if let Some(part) = self.bucket_join(join)? {
                    return Ok(part);
                }
            }
        }
        if let Some(part) = self.bucket_aggregate(&plan)? {
            return Ok(part);
        }
        let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        if children.is_empty() {
            return Ok(Part {
                plan,
                dist: Dist::Single,
            });
        }
        let mut parts = children
            .into_iter()
            .map(|c| self.rewrite(c))
            .collect::<Result<Vec<_>>>()?;
        if parts.iter().all(|p| p.dist == Dist::Single) {
            let plan = rebuild(&plan, &parts)?;
            return Ok(Part {
                plan,
                dist: Dist::Single,
            });
        }

        if let Some(r) = plan.downcast_ref::<RepartitionExec>() {
            let child = parts.remove(0);
            return match r.partitioning() {
                Partitioning::Hash(keys, _) => {
                    let keys = keys.clone();
                    let mut source = self.exchange(
                        child,
                        ExchangeKind::Hash,
                        keys,
                        Arc::clone(plan.properties()),
                        None,
                    )?;
                    if r.preserve_order() {
                        // An exchange interleaves its senders: restore the order per partition.
                        if let Some(ordering) = plan.output_ordering() {
                            source = Arc::new(
                                SortExec::new(ordering.clone(), source)
                                    .with_preserve_partitioning(true),
                            );
                        }
                    }
                    Ok(Part {
                        plan: source,
                        dist: Dist::Multi { hashed: true },
                    })
                }
                _ => Ok(Part {
                    plan: rebuild(&plan, &[child])?,
                    dist: Dist::Multi { hashed: false },
                }),
            };
        }
        if plan.is::<CoalescePartitionsExec>() {
            let child = parts.remove(0);
            let fetch = plan.fetch();
            let source = self.gather(child, fetch)?.plan;
            let plan = Arc::new(CoalescePartitionsExec::new(source).with_fetch(fetch));
            return Ok(Part {
                plan,
                dist: Dist::Single,
            });
        }
        if let Some(merge) = plan.downcast_ref::<SortPreservingMergeExec>() {
            let child = parts.remove(0);
            let fetch = merge.fetch();
            // Each instance merges its partitions; the receiver merges one stream per sender.
            let local: Arc<dyn ExecutionPlan> = Arc::new(
                SortPreservingMergeExec::new(merge.expr().clone(), Arc::clone(&child.plan))
                    .with_fetch(fetch),
            );
            let properties = Arc::clone(local.properties());
            let local = Part {
                plan: local,
                dist: child.dist,
            };
            let source = self.exchange_with(
                local,
                ExchangeKind::Gather,
                Vec::new(),
                properties,
                fetch,
                true,
            )?;
            let plan = Arc::new(
                SortPreservingMergeExec::new(merge.expr().clone(), source).with_fetch(fetch),
            );
            return Ok(Part {
                plan,
                dist: Dist::Single,
            });
        }
        if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
            if join.mode == PartitionMode::CollectLeft {
                return self.collect_left_join(&plan, join, parts);
            }
        }
        // Joins collect their left (build) side: the right one stays where it is.
        if let Some(join) = plan.downcast_ref::<NestedLoopJoinExec>() {
            let broadcastable = !emits_build_side(*join.join_type());
            return self.broadcast_join(&plan, parts, 1, broadcastable);
        }
        if plan.is::<CrossJoinExec>() {
            return self.broadcast_join(&plan, parts, 1, true);
        }
        if plan.is::<ScalarSubqueryExec>() {
            // Child 0 is the main input; every subquery's value is needed on each instance.
            return self.broadcast_join(&plan, parts, 0, true);
        }
        self.generic(&plan, parts)
    }

    /// A partitioned hash join where a side is a scan of a table hash-distributed on exactly
    /// the join keys: that side stays where its tablets are. When the other side is a scan
    /// of the same table or of one colocated with it, it stays too (colocate join);
    /// otherwise its rows are sent to the backends holding their buckets (bucket shuffle).
    fn bucket_join(&mut self, join: &HashJoinExec) -> Result<Option<Part>> {
        let (Some(left_in), Some(right_in)) = (hash_input(&join.left), hash_input(&join.right))
        else {
            return Ok(None);
        };
        let (left_keys, right_keys): (Vec<_>, Vec<_>) = join
            .on
            .iter()
            .map(|(l, r)| (Arc::clone(l), Arc::clone(r)))
            .unzip();
        let left = bucketed_scan(&left_in, &left_keys);
        let right = bucketed_scan(&right_in, &right_keys);
        // Taken now: joins below this one (rewritten next) take later numbers.
        self.bucket_groups += 1;
        let group = self.bucket_groups;
        let colocated = match (&left, &right) {
            (Some(l), Some(r)) => {
                l.key_order == r.key_order
                    && l.buckets == r.buckets
                    && (l.table_id == r.table_id
                        || (l.colocate_group.is_some() && l.colocate_group == r.colocate_group))
                    && buckets_aligned(&[&l.tablets, &r.tablets])
            }
            _ => false,
        };
        let children = if colocated {
            let l = self.rewrite(with_bucket_group(&left_in, group)?)?;
            let r = self.rewrite(with_bucket_group(&right_in, group)?)?;
            vec![l.plan, r.plan]
        } else if let Some(r) = right.filter(|r| r.accepts(&left_keys, &left_in)) {
            let sent = self.rewrite(left_in)?;
            let source = self.bucket_exchange(sent, r.ordered(&left_keys), group, r.buckets)?;
            let kept = self.rewrite(with_bucket_group(&right_in, group)?)?;
            vec![source, kept.plan]
        } else if let Some(l) = left.filter(|l| l.accepts(&right_keys, &right_in)) {
            let kept = self.rewrite(with_bucket_group(&left_in, group)?)?;
            let sent = self.rewrite(right_in)?;
            let source = self.bucket_exchange(sent, l.ordered(&right_keys), group, l.buckets)?;
            vec![kept.plan, source]
        } else {
            return Ok(None);
        };
        // Without its dynamic filter: DataFusion routes probe rows to the filter of their
        // hash partition, and these partitions follow buckets instead.
        let join = join
            .builder()
            .with_new_children(children)?
            .recompute_properties()
            .reset_state()
            .build_exec()?;
        Ok(Some(Part {
            plan: join,
            dist: Dist::Multi { hashed: false },
        }))
    }

    /// A GROUP BY on exactly the distribution columns of the table it scans: every group's
    /// rows are in one bucket, so with the scan bucket-aligned the aggregation finishes
    /// where the tablets are, without a shuffle (`FinalPartitioned` over `Partial`, or
    /// `SinglePartitioned`, over the hash repartition DataFusion planned).
    fn bucket_aggregate(&mut self, plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Part>> {
        let Some(agg) = plan.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        let Some(repartition) = agg.input().downcast_ref::<RepartitionExec>() else {
            return Ok(None);
        };
        let Partitioning::Hash(keys, _) = repartition.partitioning() else {
            return Ok(None);
        };
        // The aggregation below the shuffle (if any) and the plan under both.
        let (partial, input) = match agg.mode() {
            AggregateMode::FinalPartitioned => {
                let Some(partial) = repartition.input().downcast_ref::<AggregateExec>() else {
                    return Ok(None);
                };
                if *partial.mode() != AggregateMode::Partial || !partial.group_expr().is_single() {
                    return Ok(None);
                }
                (Some(partial), Arc::clone(partial.input()))
            }
            AggregateMode::SinglePartitioned => (None, Arc::clone(repartition.input())),
            _ => return Ok(None),
        };
        if !agg.group_expr().is_single() {
            return Ok(None);
        }
        // The shuffle keys as expressions over `input`.
        let input_keys: Option<Vec<Arc<dyn PhysicalExpr>>> = match partial {
            Some(p) => keys
                .iter()
                .map(|k| {
                    let c = k.downcast_ref::<Column>()?;
                    p.group_expr()
                        .expr()
                        .get(c.index())
                        .map(|(e, _)| Arc::clone(e))
                })
                .collect(),
            None => Some(keys.clone()),
        };
        let Some(input_keys) = input_keys else {
            return Ok(None);
        };
        let Some(scan) = bucketed_scan(&input, &input_keys) else {
            return Ok(None);
        };
        if !buckets_aligned(&[&scan.tablets]) {
            return Ok(None);
        }
        self.bucket_groups += 1;
        let group = self.bucket_groups;
        let local = self.rewrite(with_bucket_group(&input, group)?)?;
        let plan = match partial {
            // Each group's rows are all in one partition: one aggregation does both phases.
            Some(p) => match single_stage(agg, p, &local.plan)? {
                Some(single) => single,
                None => {
                    let below = replace_children_if_necessary(
                        Arc::clone(repartition.input()),
                        vec![local.plan],
                    )?;
                    replace_children_if_necessary(Arc::clone(plan), vec![below])?
                }
            },
            None => replace_children_if_necessary(Arc::clone(plan), vec![local.plan])?,
        };
        Ok(Some(Part {
            plan,
            dist: Dist::Multi { hashed: false },
        }))
    }

    /// Sends `part`'s rows to the instance and partition reading their bucket of group
    /// `group` (keys in distribution-column order).
    fn bucket_exchange(
        &mut self,
        part: Part,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        group: u32,
        buckets: u32,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let properties = self.hash_properties(&part.plan, &keys);
        let source = self.exchange(part, ExchangeKind::Bucket, keys, properties, None)?;
        // The sending fragment just cut: its sink learns the group (targets come at placement).
        self.edit_sink(self.fragments.len() - 1, None, |spec| {
            spec.bucket_group = Some(group);
            spec.bucket_targets = vec![(0, 0); buckets as usize];
        });
        Ok(source)
    }

    /// Operators without a rule of their own, by their input distribution requirements.
    fn generic(&mut self, plan: &Arc<dyn ExecutionPlan>, parts: Vec<Part>) -> Result<Part> {
        let requirements = plan.input_distribution_requirements().into_per_child();
        if requirements
            .iter()
            .any(|r| matches!(r, Distribution::SinglePartition))
        {
            let parts = parts
                .into_iter()
                .map(|p| self.ensure_single(p))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Part {
                plan: rebuild(plan, &parts)?,
                dist: Dist::Single,
            });
        }
        let keyed = requirements
            .iter()
            .any(|r| matches!(r, Distribution::KeyPartitioned(_)));
        if keyed {
            let mut out = Vec::with_capacity(parts.len());
            for (part, req) in parts.into_iter().zip(requirements) {
                out.push(match req {
                    Distribution::KeyPartitioned(keys) => self.ensure_hashed(part, keys)?,
                    _ => part,
                });
            }
            return Ok(Part {
                plan: rebuild(plan, &out)?,
                dist: Dist::Multi { hashed: true },
            });
        }
        if parts.len() == 1 {
            let dist = parts[0].dist;
            return Ok(Part {
                plan: rebuild(plan, &parts)?,
                dist,
            });
        }
        if plan.is::<UnionExec>() {
            // Each child keeps its instances; one computed in one place sends its rows to
            // one instance of the union.
            let parts = parts
                .into_iter()
                .map(|p| match p.dist {
                    Dist::Single => {
                        let properties = Arc::clone(p.plan.properties());
                        let source =
                            self.exchange(p, ExchangeKind::Gather, Vec::new(), properties, None)?;
                        Ok(Part {
                            plan: source,
                            dist: Dist::Multi { hashed: false },
                        })
                    }
                    Dist::Multi { .. } => Ok(p),
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Part {
                plan: rebuild(plan, &parts)?,
                dist: Dist::Multi { hashed: false },
            });
        }
        if plan.is::<InterleaveExec>()
            && parts.iter().all(|p| p.dist == Dist::Multi { hashed: true })
        {
            return Ok(Part {
                plan: rebuild(plan, &parts)?,
                dist: Dist::Multi { hashed: true },
            });
        }
        // Anything else with several inputs runs in one place.
        let parts = parts
            .into_iter()
            .map(|p| self.ensure_single(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Part {
            plan: rebuild(plan, &parts)?,
            dist: Dist::Single,
        })
    }

    /// A hash join that collects its left (build) side.
    fn collect_left_join(
        &mut self,
        plan: &Arc<dyn ExecutionPlan>,
        join: &HashJoinExec,
        mut parts: Vec<Part>,
    ) -> Result<Part> {
        let probe_dist = parts[1].dist;
        if probe_dist == Dist::Single || join.null_aware {
            // NOT IN needs every probe row in one place to see its NULLs.
            return self.generic(plan, parts);
        }
        if !emits_build_side(join.join_type) {
            return self.broadcast_join(plan, parts, 1, true);
        }
        // LEFT/FULL/semi/anti: hash both sides on the join keys instead.
        let right = parts
            .pop()
            .ok_or_else(|| FeError::Internal("join without probe side".into()))?;
        let left = parts
            .pop()
            .ok_or_else(|| FeError::Internal("join without build side".into()))?;
        let (left_keys, right_keys): (Vec<_>, Vec<_>) = join
            .on
            .iter()
            .map(|(l, r)| (Arc::clone(l), Arc::clone(r)))
            .unzip();
        let left = self.hash_on(left, left_keys)?;
        let right = self.hash_on(right, right_keys)?;
        let partitioned = join
            .builder()
            .with_partition_mode(PartitionMode::Partitioned)
            .with_new_children(vec![left.plan, right.plan])?
            .recompute_properties()
            .reset_state()
            .build_exec()?;
        Ok(Part {
            plan: partitioned,
            dist: Dist::Multi { hashed: true },
        })
    }

    /// A node that needs its child `main`'s rows where they are and every other child's rows
    /// whole on each of `main`'s instances: those are broadcast when `broadcastable` and
    /// `main` is distributed; otherwise everything runs in one place.
    fn broadcast_join(
        &mut self,
        plan: &Arc<dyn ExecutionPlan>,
        parts: Vec<Part>,
        main: usize,
        broadcastable: bool,
    ) -> Result<Part> {
        let dist = parts.get(main).map(|p| p.dist);
        let (Some(dist @ Dist::Multi { .. }), true) = (dist, broadcastable) else {
            return self.generic(plan, parts);
        };
        let parts = parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| if i == main { Ok(p) } else { self.broadcast(p) })
            .collect::<Result<Vec<_>>>()?;
        Ok(Part {
            plan: rebuild(plan, &parts)?,
            dist,
        })
    }

    /// All of `part`'s rows on every instance of the consumer, as one partition.
    fn broadcast(&mut self, part: Part) -> Result<Part> {
        let properties = single_stream_properties(&part.plan);
        if let Some(id) = self.plain_gather(&part.plan) {
            self.retarget(id, ExchangeKind::Broadcast, Vec::new(), 1);
            return Ok(Part {
                plan: self.source(id, ExchangeKind::Broadcast, 1, properties),
                dist: Dist::Multi { hashed: false },
            });
        }
        let plan = self.exchange(part, ExchangeKind::Broadcast, Vec::new(), properties, None)?;
        Ok(Part {
            plan,
            dist: Dist::Multi { hashed: false },
        })
    }

    /// The exchange `plan` only reads, if it is a plain gather (maybe under a coalesce): its
    /// senders can as well broadcast or hash instead.
    fn plain_gather(&self, plan: &Arc<dyn ExecutionPlan>) -> Option<u32> {
        let source = match plan.downcast_ref::<CoalescePartitionsExec>() {
            Some(c) if c.fetch().is_none() => c.input().downcast_ref::<ExchangeSourceExec>()?,
            Some(_) => return None,
            None => plan.downcast_ref::<ExchangeSourceExec>()?,
        };
        let exchange = self
            .exchanges
            .iter()
            .find(|x| x.id == source.spec.exchange_id)?;
        let sink = self
            .fragments
            .get(exchange.from_fragment)?
            .as_ref()?
            .plan
            .downcast_ref::<ExchangeSinkExec>()?;
        let plain = exchange.kind == ExchangeKind::Gather
            && sink.spec.fetch.is_none()
            && !sink.spec.per_sender_partitions;
        plain.then_some(exchange.id)
    }

    /// Changes how exchange `id`'s senders spread their rows.
    fn retarget(
        &mut self,
        id: u32,
        kind: ExchangeKind,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        partitions: usize,
    ) {
        let Some(exchange) = self.exchanges.iter_mut().find(|x| x.id == id) else {
            return;
        };
        exchange.kind = kind;
        let from = exchange.from_fragment;
        self.edit_sink(from, Some(keys), |spec| {
            spec.kind = kind;
            spec.partitions = partitions;
        });
    }

    /// Rewrites the sink of fragment `fragment`: its spec through `edit`, and its hash keys
    /// when `keys` is given.
    fn edit_sink(
        &mut self,
        fragment: usize,
        keys: Option<Vec<Arc<dyn PhysicalExpr>>>,
        edit: impl FnOnce(&mut ExchangeSinkSpec),
    ) {
        let Some(Some(f)) = self.fragments.get_mut(fragment) else {
            return;
        };
        if let Some(sink) = f.plan.downcast_ref::<ExchangeSinkExec>() {
            let mut spec = sink.spec.clone();
            edit(&mut spec);
            let keys = keys.unwrap_or_else(|| sink.keys.clone());
            f.plan = Arc::new(ExchangeSinkExec::new(spec, keys, Arc::clone(&sink.input)));
        }
    }

    fn source(
        &self,
        id: u32,
        kind: ExchangeKind,
        partitions: usize,
        properties: Arc<PlanProperties>,
    ) -> Arc<dyn ExecutionPlan> {
        Arc::new(ExchangeSourceExec::new(
            ExchangeSourceSpec {
                query_id: self.query_id.clone(),
                exchange_id: id,
                kind,
                receiver: 0,
                senders: 0,
                partitions,
            },
            properties,
        ))
    }

    /// `part` hashed on exactly `keys` across instances (the two sides of a join this
    /// planner made partitioned must hash alike): as is when it already is, else through a
    /// hash exchange (a plain gather below is turned into it).
    fn hash_on(&mut self, part: Part, keys: Vec<Arc<dyn PhysicalExpr>>) -> Result<Part> {
        let already =
            matches!(part.plan.output_partitioning(), Partitioning::Hash(k, _) if *k == keys);
        if part.dist == (Dist::Multi { hashed: true }) && already {
            return Ok(part);
        }
        let properties = self.hash_properties(&part.plan, &keys);
        if part.dist == Dist::Single {
            if let Some(id) = self.plain_gather(&part.plan) {
                self.retarget(id, ExchangeKind::Hash, keys, self.parallelism);
                return Ok(Part {
                    plan: self.source(id, ExchangeKind::Hash, self.parallelism, properties),
                    dist: Dist::Multi { hashed: true },
                });
            }
        }
        let plan = self.exchange(part, ExchangeKind::Hash, keys, properties, None)?;
        Ok(Part {
            plan,
            dist: Dist::Multi { hashed: true },
        })
    }

    /// `part` hashed on `keys` across instances: as is when an exchange already hashed it
    /// (DataFusion planned this operator's input partitioning), else through a new hash
    /// exchange.
    fn ensure_hashed(&mut self, part: Part, keys: Vec<Arc<dyn PhysicalExpr>>) -> Result<Part> {
        match part.dist {
            Dist::Multi { hashed: true } => Ok(part),
            Dist::Multi { hashed: false } => {
                // An exchange interleaves its senders: operators planned over sorted input
                // (windows, sort-based aggregation) get it sorted again per partition.
                let ordering = part.plan.output_ordering().cloned();
                let properties = self.hash_properties(&part.plan, &keys);
                let mut plan = self.exchange(part, ExchangeKind::Hash, keys, properties, None)?;
                if let Some(ordering) = ordering {
                    plan = Arc::new(SortExec::new(ordering, plan).with_preserve_partitioning(true));
                }
                Ok(Part {
                    plan,
                    dist: Dist::Multi { hashed: true },
                })
            }
            Dist::Single => self.hash_single(part, keys),
        }
    }

    /// A part computed in one place, hashed across instances; a local hash repartition on
    /// top is replaced by the exchange.
    fn hash_single(&mut self, part: Part, keys: Vec<Arc<dyn PhysicalExpr>>) -> Result<Part> {
        let (input, keys) = match part.plan.downcast_ref::<RepartitionExec>() {
            Some(r) => match r.partitioning() {
                Partitioning::Hash(k, _) => (Arc::clone(r.input()), k.clone()),
                _ => (Arc::clone(r.input()), keys),
            },
            None => (Arc::clone(&part.plan), keys),
        };
        let input = Part {
            plan: input,
            dist: Dist::Single,
        };
        self.hash_on(input, keys)
    }

    fn hash_properties(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        keys: &[Arc<dyn PhysicalExpr>],
    ) -> Arc<PlanProperties> {
        Arc::new(PlanProperties::new(
            EquivalenceProperties::new(plan.schema()),
            Partitioning::Hash(keys.to_vec(), self.parallelism),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ))
    }

    /// `part` in one place (a gather when it is distributed).
    fn ensure_single(&mut self, part: Part) -> Result<Part> {
        match part.dist {
            Dist::Single => Ok(part),
            Dist::Multi { .. } => self.gather(part, None),
        }
    }

    /// All of `part`'s rows on one instance, as one partition (at most `fetch` rows).
    fn gather(&mut self, part: Part, fetch: Option<usize>) -> Result<Part> {
        let properties = single_stream_properties(&part.plan);
        let plan = self.exchange(part, ExchangeKind::Gather, Vec::new(), properties, fetch)?;
        Ok(Part {
            plan,
            dist: Dist::Single,
        })
    }

    fn exchange(
        &mut self,
        part: Part,
        kind: ExchangeKind,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        properties: Arc<PlanProperties>,
        fetch: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.exchange_with(part, kind, keys, properties, fetch, false)
    }

    /// Cuts `part` off as a new fragment sending into a new exchange; returns the exchange's
    /// source, to take `part`'s place.
    fn exchange_with(
        &mut self,
        part: Part,
        kind: ExchangeKind,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        properties: Arc<PlanProperties>,
        fetch: Option<usize>,
        per_sender_partitions: bool,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let id = self.exchanges.len() as u32 + 1;
        let partitions = if matches!(kind, ExchangeKind::Hash | ExchangeKind::Bucket) {
            self.parallelism
        } else {
            1
        };
        let sink = ExchangeSinkExec::new(
            ExchangeSinkSpec {
                query_id: self.query_id.clone(),
                exchange_id: id,
                kind,
                per_sender_partitions,
                sender: 0,
                local: None,
                receivers: Vec::new(),
                partitions,
                fetch,
                bucket_group: None,
                bucket_targets: Vec::new(),
            },
            keys,
            part.plan,
        );
        let from_fragment = self.fragments.len();
        self.fragments.push(Some(Fragment {
            plan: Arc::new(sink),
            dist: part.dist,
        }));
        self.exchanges.push(Exchange {
            id,
            kind,
            from_fragment,
        });
        Ok(self.source(id, kind, partitions, properties))
    }
}

/// The input of a hash `RepartitionExec` (the usual child of a partitioned join).
fn hash_input(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let r = plan.downcast_ref::<RepartitionExec>()?;
    matches!(r.partitioning(), Partitioning::Hash(..)).then(|| Arc::clone(r.input()))
}

/// A scan whose table is hash-distributed on exactly some join keys.
struct BucketedScan {
    /// For each distribution column (in the table's order), the position of its join key.
    key_order: Vec<usize>,
    /// The distribution columns' types: the other side's keys must have them to hash alike.
    types: Vec<DataType>,
    buckets: u32,
    table_id: i64,
    colocate_group: Option<String>,
    tablets: Vec<TabletRead>,
}

impl BucketedScan {
    /// The other side's keys in distribution order, if they hash like the table's columns.
    fn accepts(&self, keys: &[Arc<dyn PhysicalExpr>], side: &Arc<dyn ExecutionPlan>) -> bool {
        let schema = side.schema();
        self.key_order.iter().zip(&self.types).all(|(&i, t)| {
            keys.get(i)
                .and_then(|k| k.data_type(&schema).ok())
                .is_some_and(|kt| kt == *t)
        }) && buckets_aligned(&[&self.tablets])
    }

    fn ordered(&self, keys: &[Arc<dyn PhysicalExpr>]) -> Vec<Arc<dyn PhysicalExpr>> {
        self.key_order
            .iter()
            .map(|&i| Arc::clone(&keys[i]))
            .collect()
    }
}

/// `final_agg` over `partial` as one `SinglePartitioned` aggregation over `input` (the
/// partial's input), when every group's rows arrive in one partition; `None` when the
/// result would not have the final aggregation's schema or it carries a limit.
fn single_stage(
    final_agg: &AggregateExec,
    partial: &AggregateExec,
    input: &Arc<dyn ExecutionPlan>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if final_agg.limit_options().is_some() || partial.limit_options().is_some() {
        return Ok(None);
    }
    let single = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        partial.group_expr().clone(),
        partial.aggr_expr().to_vec(),
        partial.filter_expr().to_vec(),
        Arc::clone(input),
        partial.input_schema(),
    )?;
    Ok((single.schema() == final_agg.schema()).then(|| Arc::new(single) as _))
}

/// If `plan` is a scan under row-local operators only (projections of plain columns,
/// filters) and `keys` are plain columns naming exactly its table's distribution columns.
fn bucketed_scan(
    plan: &Arc<dyn ExecutionPlan>,
    keys: &[Arc<dyn PhysicalExpr>],
) -> Option<BucketedScan> {
    let column = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Column>().map(|c| c.index());
    let mut cols: Vec<usize> = keys.iter().map(column).collect::<Option<_>>()?;
    let mut node = Arc::clone(plan);
    loop {
        if let Some(p) = node.downcast_ref::<ProjectionExec>() {
            cols = cols
                .iter()
                .map(|&i| p.expr().get(i).and_then(|e| column(&e.expr)))
                .collect::<Option<_>>()?;
            node = Arc::clone(p.input());
        } else if let Some(f) = node.downcast_ref::<FilterExec>() {
            if let Some(projection) = f.projection() {
                cols = cols
                    .iter()
                    .map(|&i| projection.get(i).copied())
                    .collect::<Option<_>>()?;
            }
            node = Arc::clone(f.input());
        } else {
            break;
        }
    }
    let scan = node.downcast_ref::<OlapScanExec>()?;
    let spec = &scan.spec;
    if spec.distribution.is_empty() || spec.merge_order || spec.buckets == 0 {
        return None;
    }
    let table_cols: Vec<usize> = cols
        .iter()
        .map(|&i| match &spec.projection {
            Some(p) => p.get(i).copied(),
            None => Some(i),
        })
        .collect::<Option<_>>()?;
    if table_cols.len() != spec.distribution.len() {
        return None;
    }
    let key_order = spec
        .distribution
        .iter()
        .map(|d| table_cols.iter().position(|c| c == d))
        .collect::<Option<Vec<_>>>()?;
    let types = spec
        .distribution
        .iter()
        .map(|&d| {
            scan.table_schema
                .fields()
                .get(d)
                .map(|f| f.data_type().clone())
        })
        .collect::<Option<Vec<_>>>()?;
    Some(BucketedScan {
        key_order,
        types,
        buckets: spec.buckets,
        table_id: spec.table_id,
        colocate_group: spec.colocate_group.clone(),
        tablets: spec.tablets.clone(),
    })
}

/// Whether each bucket's tablets (across partitions and tables) share a backend, so one
/// backend can read all of a bucket.
fn buckets_aligned(scans: &[&Vec<TabletRead>]) -> bool {
    let mut common: std::collections::HashMap<u32, Vec<i64>> = std::collections::HashMap::new();
    for t in scans.iter().flat_map(|s| s.iter()) {
        common
            .entry(t.bucket)
            .and_modify(|c| c.retain(|b| t.backends.contains(b)))
            .or_insert_with(|| t.backends.clone());
    }
    common.values().all(|c| !c.is_empty())
}

/// `plan` with its scans marked as read bucket-aligned in group `group`.
fn with_bucket_group(plan: &Arc<dyn ExecutionPlan>, group: u32) -> Result<Arc<dyn ExecutionPlan>> {
    let marked = Arc::clone(plan).transform_up(|node| {
        let Some(scan) = node.downcast_ref::<OlapScanExec>() else {
            return Ok(Transformed::no(node));
        };
        let mut spec = scan.spec.clone();
        spec.bucket_group = Some(group);
        let scan =
            OlapScanExec::try_new(spec, Arc::clone(&scan.table_schema), scan.predicate.clone())?;
        Ok(Transformed::yes(Arc::new(scan) as Arc<dyn ExecutionPlan>))
    })?;
    Ok(marked.data)
}
