//! `EXPLAIN` text in Doris's shape: one `PLAN FRAGMENT n` block per fragment with its
//! `PARTITION:` (how its input is spread), its sink (`VRESULT SINK` for fragment 0, else
//! `STREAM DATA SINK` naming the exchange it feeds and how), then its operators from the
//! top, each `id:NAME` with details on `|  ` lines; exchange nodes carry the exchange's id.
//! Entry point: [`render`].

use std::sync::Arc;

use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{displayable, ExecutionPlan};
use doris_common::fragment::{
    ExchangeKind, ExchangeSinkExec, ExchangeSourceExec, OlapScanExec, OlapTableSinkExec,
};

use super::distribute::{sources, Dist, FragmentedPlan};

/// The lines of `EXPLAIN` for `plan`; `output` names the result columns.
pub fn render(plan: &FragmentedPlan, output: &[String]) -> Vec<String> {
    let mut next_id = plan.exchanges.iter().map(|x| x.id).max().unwrap_or(0) + 1;
    let mut lines = Vec::new();
    for (i, f) in plan.fragments.iter().enumerate() {
        lines.push(format!("PLAN FRAGMENT {i}"));
        let root = match f.plan.downcast_ref::<ExchangeSinkExec>() {
            Some(sink) => Arc::clone(&sink.input),
            None => Arc::clone(&f.plan),
        };
        if i == 0 {
            lines.push("  OUTPUT EXPRS:".into());
            lines.extend(output.iter().map(|n| format!("    {n}")));
        }
        lines.push(format!("  PARTITION: {}", partition_of(f.dist, &f.plan)));
        lines.push(String::new());
        match f.plan.downcast_ref::<ExchangeSinkExec>() {
            Some(sink) => {
                lines.push(format!(
                    "  OutPut Exchange Id: {:02}",
                    sink.spec.exchange_id
                ));
                lines.push(String::new());
                lines.push("  STREAM DATA SINK".into());
                lines.push(format!("    EXCHANGE ID: {:02}", sink.spec.exchange_id));
                lines.push(format!("    {}", sink.describe()));
            }
            None if root.is::<OlapTableSinkExec>() => lines.push("  OLAP TABLE SINK".into()),
            None => {
                lines.push("  VRESULT SINK".into());
                lines.push("     MYSQL_PROTOCAL".into());
            }
        }
        lines.push(String::new());
        let root = match root.downcast_ref::<OlapTableSinkExec>() {
            Some(sink) => {
                lines.push(format!("  {}", one_line(&root)));
                Arc::clone(&sink.input)
            }
            None => root,
        };
        node_lines(&root, 0, &mut next_id, &mut lines);
        lines.push(String::new());
    }
    lines
}

/// How a fragment's input is spread over its instances.
fn partition_of(dist: Dist, plan: &Arc<dyn ExecutionPlan>) -> String {
    if dist == Dist::Single {
        return "UNPARTITIONED".into();
    }
    let hashed = sources(plan)
        .into_iter()
        .find(|s| s.spec.kind == ExchangeKind::Hash);
    match hashed.map(|s| s.properties().partitioning.clone()) {
        Some(datafusion::physical_plan::Partitioning::Hash(keys, _)) => {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            format!("HASH_PARTITIONED: {}", keys.join(", "))
        }
        _ => "RANDOM".into(),
    }
}

fn one_line(plan: &Arc<dyn ExecutionPlan>) -> String {
    displayable(plan.as_ref())
        .one_line()
        .to_string()
        .trim_end()
        .to_string()
}

/// How a hash join gets its inputs together, in Doris's words.
fn join_strategy(join: &HashJoinExec) -> &'static str {
    if join.mode == PartitionMode::CollectLeft {
        return "BROADCAST";
    }
    let kinds: Vec<ExchangeKind> = [&join.left, &join.right]
        .into_iter()
        .filter_map(|c| c.downcast_ref::<ExchangeSourceExec>().map(|s| s.spec.kind))
        .collect();
    let local_shuffle = [&join.left, &join.right]
        .into_iter()
        .any(|c| c.is::<datafusion::physical_plan::repartition::RepartitionExec>());
    match kinds.as_slice() {
        [] if !local_shuffle => "COLOCATE",
        k if k.contains(&ExchangeKind::Bucket) => "BUCKET_SHUFFLE",
        _ => "PARTITIONED",
    }
}

/// Doris's name for an operator.
fn doris_name(plan: &Arc<dyn ExecutionPlan>) -> String {
    if plan.is::<OlapScanExec>() {
        return "VOlapScanNode".into();
    }
    if plan.is::<ExchangeSourceExec>() {
        return "VEXCHANGE".into();
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        return format!("VHASH JOIN({})", join_strategy(join));
    }
    if let Some(agg) = plan.downcast_ref::<AggregateExec>() {
        let phase = match agg.mode() {
            AggregateMode::Partial => "update serialize",
            AggregateMode::Final | AggregateMode::FinalPartitioned => "merge finalize",
            _ => "update finalize",
        };
        return format!("VAGGREGATE ({phase})");
    }
    if let Some(sort) = plan.downcast_ref::<SortExec>() {
        return if sort.fetch().is_some() {
            "VTOP-N".into()
        } else {
            "VSORT".into()
        };
    }
    let name = plan.name().trim_end_matches("Exec");
    format!("V{}", name.to_uppercase())
}

fn node_lines(
    plan: &Arc<dyn ExecutionPlan>,
    depth: usize,
    next_id: &mut u32,
    lines: &mut Vec<String>,
) {
    let id = match plan.downcast_ref::<ExchangeSourceExec>() {
        Some(s) => s.spec.exchange_id,
        None => {
            *next_id += 1;
            *next_id - 1
        }
    };
    let indent = "  ".to_string() + &"|  ".repeat(depth);
    lines.push(format!("{indent}{id}:{}", doris_name(plan)));
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        lines.push(format!(
            "{indent}|  join op: {} JOIN({})",
            join.join_type.to_string().to_uppercase(),
            join_strategy(join)
        ));
    }
    lines.push(format!("{indent}|  {}", one_line(plan)));
    for child in plan.children() {
        node_lines(child, depth + 1, next_id, lines);
    }
}
