//! `stats`: rows grouped by their keys, each group's aggregates.

use std::collections::{HashMap, HashSet};

use super::{order, Engine, Key, Row, Val};
use crate::insights::lang::{Expr, Item};

/// One aggregate's running value.
#[derive(Debug, Clone)]
enum Acc {
    Count(u64),
    Distinct(HashSet<Key>),
    Sum(Option<f64>),
    Avg(f64, u64),
    /// Welford's running mean and sum of squares.
    Stddev(u64, f64, f64),
    /// The least (or, with `true`, the greatest) value in sort order.
    Extreme(Option<Val>, bool),
    /// The value of the earliest (or latest) event, with its time.
    AtTime(Option<(i64, Val)>, bool),
    Pct(Vec<f64>, f64),
}

pub(super) struct Entry {
    key: Vec<Key>,
    values: Vec<Val>,
    time: Option<i64>,
}

pub(super) struct Groups {
    by: Vec<Item>,
    aggs: Vec<Item>,
    map: HashMap<Vec<Key>, Vec<Acc>>,
    /// Keys in the order they were first seen.
    order: Vec<Vec<Key>>,
}

impl Groups {
    pub(super) fn new(aggs: &[Item], by: &[Item]) -> Groups {
        Groups {
            by: by.to_vec(),
            aggs: aggs.to_vec(),
            map: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn fresh(&self) -> Vec<Acc> {
        self.aggs
            .iter()
            .map(|i| match &i.expr {
                Expr::Call(name, args, _) => match name.as_str() {
                    "count" => Acc::Count(0),
                    "count_distinct" => Acc::Distinct(HashSet::new()),
                    "sum" => Acc::Sum(None),
                    "avg" => Acc::Avg(0.0, 0),
                    "stddev" => Acc::Stddev(0, 0.0, 0.0),
                    "min" | "sortsfirst" => Acc::Extreme(None, false),
                    "max" | "sortslast" => Acc::Extreme(None, true),
                    "earliest" => Acc::AtTime(None, false),
                    "latest" => Acc::AtTime(None, true),
                    "pct" => Acc::Pct(
                        Vec::new(),
                        match args.get(1) {
                            Some(Expr::Num(p)) => *p,
                            _ => 50.0,
                        },
                    ),
                    _ => Acc::Count(0),
                },
                _ => Acc::Extreme(None, false),
            })
            .collect()
    }

    pub(super) fn add(&mut self, engine: &Engine, row: &Row) {
        let e = Groups::entry(&self.by, &self.aggs, engine, row);
        self.insert(e);
    }

    /// What one row adds: its key, each aggregate's value and its time.
    /// Made before the groups are locked, so threads evaluate in parallel.
    pub(super) fn entry(by: &[Item], aggs: &[Item], engine: &Engine, row: &Row) -> Entry {
        let key = by.iter().map(|i| engine.eval(&i.expr, row).key()).collect();
        let values = aggs
            .iter()
            .map(|item| match &item.expr {
                Expr::Call(_, args, _) => match args.first() {
                    None | Some(Expr::Star) => Val::Num(1.0),
                    Some(e) => engine.eval(e, row),
                },
                other => engine.eval(other, row),
            })
            .collect();
        Entry {
            key,
            values,
            time: row.time,
        }
    }

    pub(super) fn insert(&mut self, e: Entry) {
        if !self.map.contains_key(&e.key) {
            let fresh = self.fresh();
            self.order.push(e.key.clone());
            self.map.insert(e.key.clone(), fresh);
        }
        let accs = self.map.get_mut(&e.key).expect("inserted above");
        for (acc, value) in accs.iter_mut().zip(e.values) {
            update(acc, value, e.time);
        }
    }

    /// One row per group, in the order groups were first seen.
    pub(super) fn rows(mut self) -> Vec<Row> {
        let mut out = Vec::with_capacity(self.order.len());
        for key in std::mem::take(&mut self.order) {
            let accs = self.map.remove(&key).unwrap_or_default();
            let mut row = Row::default();
            for (item, k) in self.by.iter().zip(&key) {
                row.set(item.name(), k.val());
            }
            for (item, acc) in self.aggs.iter().zip(accs) {
                row.set(item.name(), result(acc));
            }
            out.push(row);
        }
        out
    }
}

fn update(acc: &mut Acc, v: Val, time: Option<i64>) {
    if v == Val::Null {
        return;
    }
    match acc {
        Acc::Count(n) => *n += 1,
        Acc::Distinct(set) => {
            set.insert(v.key());
        }
        Acc::Sum(s) => {
            if let Some(n) = v.num() {
                *s = Some(s.unwrap_or(0.0) + n);
            }
        }
        Acc::Avg(s, n) => {
            if let Some(x) = v.num() {
                *s += x;
                *n += 1;
            }
        }
        Acc::Stddev(n, mean, m2) => {
            if let Some(x) = v.num() {
                *n += 1;
                let d = x - *mean;
                *mean += d / *n as f64;
                *m2 += d * (x - *mean);
            }
        }
        Acc::Extreme(best, greatest) => {
            let better = best.as_ref().is_none_or(|b| {
                let o = order(&v, b);
                if *greatest {
                    o.is_gt()
                } else {
                    o.is_lt()
                }
            });
            if better {
                *best = Some(v);
            }
        }
        Acc::AtTime(best, latest) => {
            let Some(t) = time else { return };
            let better = best
                .as_ref()
                .is_none_or(|(bt, _)| if *latest { t > *bt } else { t < *bt });
            if better {
                *best = Some((t, v));
            }
        }
        Acc::Pct(values, _) => values.extend(v.num()),
    }
}

fn result(acc: Acc) -> Val {
    match acc {
        Acc::Count(n) => Val::Num(n as f64),
        Acc::Distinct(set) => Val::Num(set.len() as f64),
        Acc::Sum(s) => s.map_or(Val::Null, Val::Num),
        Acc::Avg(_, 0) => Val::Null,
        Acc::Avg(s, n) => Val::Num(s / n as f64),
        Acc::Stddev(n, _, _) if n < 2 => Val::Null,
        Acc::Stddev(n, _, m2) => Val::Num((m2 / (n - 1) as f64).sqrt()),
        Acc::Extreme(v, _) => v.unwrap_or(Val::Null),
        Acc::AtTime(v, _) => v.map_or(Val::Null, |(_, v)| v),
        Acc::Pct(mut values, p) => {
            if values.is_empty() {
                return Val::Null;
            }
            values.sort_by(f64::total_cmp);
            // Nearest rank.
            let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
            Val::Num(values[rank.min(values.len()) - 1])
        }
    }
}
