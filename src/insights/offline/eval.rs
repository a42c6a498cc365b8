//! Expressions over a row: operators and the scalar functions.

use std::net::IpAddr;

use super::{Engine, Row, Val};
use crate::insights::lang::{BinOp, Expr};

impl Engine {
    pub(super) fn eval(&self, e: &Expr, row: &Row) -> Val {
        match e {
            Expr::Field(f, _) => row.get(f),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Num(n) => Val::Num(*n),
            Expr::Period(ms, _) => Val::Num(*ms as f64),
            Expr::Regex(r) => Val::Str(r.clone()),
            Expr::List(_) | Expr::Star => Val::Null,
            Expr::Not(x) => Val::bool(!self.eval(x, row).truthy()),
            Expr::Neg(x) => self.eval(x, row).num().map_or(Val::Null, |n| Val::Num(-n)),
            Expr::Bin(op, a, b) => self.binary(*op, a, b, row),
            Expr::Like(a, b) => {
                let Some(text) = self.eval(a, row).text() else {
                    return Val::bool(false);
                };
                Val::bool(match &**b {
                    Expr::Regex(r) => self.regexes[r].is_match(&text),
                    other => self
                        .eval(other, row)
                        .text()
                        .is_some_and(|s| text.contains(&s)),
                })
            }
            Expr::In(a, list) => {
                let v = self.eval(a, row);
                Val::bool(v != Val::Null && list.iter().any(|x| equal(&v, &self.eval(x, row))))
            }
            Expr::Call(name, args, _) => self.call(name, args, row),
        }
    }

    fn binary(&self, op: BinOp, a: &Expr, b: &Expr, row: &Row) -> Val {
        match op {
            BinOp::And => {
                return Val::bool(self.eval(a, row).truthy() && self.eval(b, row).truthy())
            }
            BinOp::Or => {
                return Val::bool(self.eval(a, row).truthy() || self.eval(b, row).truthy())
            }
            _ => {}
        }
        let (x, y) = (self.eval(a, row), self.eval(b, row));
        if x == Val::Null || y == Val::Null {
            // A comparison or arithmetic with a missing field.
            return match op {
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow => {
                    Val::Null
                }
                _ => Val::bool(false),
            };
        }
        let cmp = || compare(&x, &y);
        match op {
            BinOp::Eq => Val::bool(equal(&x, &y)),
            BinOp::Ne => Val::bool(!equal(&x, &y)),
            BinOp::Lt => Val::bool(cmp().is_some_and(|o| o.is_lt())),
            BinOp::Le => Val::bool(cmp().is_some_and(|o| o.is_le())),
            BinOp::Gt => Val::bool(cmp().is_some_and(|o| o.is_gt())),
            BinOp::Ge => Val::bool(cmp().is_some_and(|o| o.is_ge())),
            _ => arithmetic(op, &x, &y),
        }
    }

    /// Long: one arm per function of the language run offline; a table of
    /// closures would be no shorter and harder to read.
    fn call(&self, name: &str, args: &[Expr], row: &Row) -> Val {
        let arg = |i: usize| args.get(i).map_or(Val::Null, |e| self.eval(e, row));
        let text = |i: usize| arg(i).text();
        let num = |i: usize| arg(i).num();
        let math = |f: fn(f64) -> f64| num(0).map_or(Val::Null, |n| Val::Num(f(n)));
        match name {
            "abs" => math(f64::abs),
            "ceil" => math(f64::ceil),
            "floor" => math(f64::floor),
            "log" => math(f64::ln),
            "sqrt" => math(f64::sqrt),
            "greatest" | "least" => {
                let nums = (0..args.len()).filter_map(num);
                let best = if name == "greatest" {
                    nums.reduce(f64::max)
                } else {
                    nums.reduce(f64::min)
                };
                best.map_or(Val::Null, Val::Num)
            }
            "bin" => match (row.time, num(0)) {
                (Some(t), Some(p)) if p >= 1.0 => {
                    floor_to(t, p as i64).map_or(Val::Null, Val::Time)
                }
                _ => Val::Null,
            },
            "datefloor" | "dateceil" => match (arg(0), num(1)) {
                (Val::Time(t), Some(p)) if p >= 1.0 => {
                    let p = p as i64;
                    let t = match floor_to(t, p) {
                        Some(f) if name == "dateceil" && f != t => f.checked_add(p),
                        other => other,
                    };
                    t.map_or(Val::Null, Val::Time)
                }
                _ => Val::Null,
            },
            "frommillis" => num(0).map_or(Val::Null, |n| Val::Time(n as i64)),
            "tomillis" => num(0).map_or(Val::Null, Val::Num),
            "ispresent" => Val::bool(arg(0) != Val::Null),
            "coalesce" => (0..args.len())
                .map(arg)
                .find(|v| *v != Val::Null)
                .unwrap_or(Val::Null),
            "isempty" => Val::bool(text(0).is_none_or(|s| s.is_empty())),
            "isblank" => Val::bool(text(0).is_none_or(|s| s.trim().is_empty())),
            "concat" => Val::Str((0..args.len()).filter_map(text).collect()),
            "ltrim" | "rtrim" | "trim" => text(0).map_or(Val::Null, |s| {
                let chars: Option<Vec<char>> = text(1).map(|c| c.chars().collect());
                let strip = |c: char| {
                    chars
                        .as_ref()
                        .map_or(c.is_whitespace(), |cs| cs.contains(&c))
                };
                Val::Str(match name {
                    "ltrim" => s.trim_start_matches(strip).to_owned(),
                    "rtrim" => s.trim_end_matches(strip).to_owned(),
                    _ => s.trim_matches(strip).to_owned(),
                })
            }),
            "strlen" => text(0).map_or(Val::Null, |s| Val::Num(s.chars().count() as f64)),
            "toupper" => text(0).map_or(Val::Null, |s| Val::Str(s.to_uppercase())),
            "tolower" => text(0).map_or(Val::Null, |s| Val::Str(s.to_lowercase())),
            "substr" => text(0).map_or(Val::Null, |s| {
                let start = num(1).unwrap_or(0.0).max(0.0) as usize;
                let len = num(2).map_or(usize::MAX, |n| n.max(0.0) as usize);
                Val::Str(s.chars().skip(start).take(len).collect())
            }),
            "replace" => match (text(0), text(1), text(2)) {
                (Some(s), Some(from), Some(to)) if !from.is_empty() => {
                    Val::Str(s.replace(&from, &to))
                }
                (s, _, _) => s.map_or(Val::Null, Val::Str),
            },
            "strcontains" => {
                Val::bool(matches!((text(0), text(1)), (Some(s), Some(t)) if s.contains(&t)))
            }
            _ => self.ip_call(name, text(0), text(1)),
        }
    }

    fn ip_call(&self, name: &str, ip: Option<String>, subnet: Option<String>) -> Val {
        let ip: Option<IpAddr> = ip.and_then(|s| s.parse().ok());
        let net: Option<ipnet::IpNet> = subnet.and_then(|s| s.parse().ok());
        Val::bool(match name {
            "isvalidip" => ip.is_some(),
            "isvalidipv4" => ip.is_some_and(|a| a.is_ipv4()),
            "isvalidipv6" => ip.is_some_and(|a| a.is_ipv6()),
            "isipinsubnet" => matches!((ip, net), (Some(a), Some(n)) if n.contains(&a)),
            "isipv4insubnet" => {
                matches!((ip, net), (Some(a), Some(n)) if a.is_ipv4() && n.contains(&a))
            }
            "isipv6insubnet" => {
                matches!((ip, net), (Some(a), Some(n)) if a.is_ipv6() && n.contains(&a))
            }
            _ => false,
        })
    }
}

/// `t` rounded down to a multiple of `p`; `None` past the range of times.
fn floor_to(t: i64, p: i64) -> Option<i64> {
    t.div_euclid(p).checked_mul(p)
}

/// Equal as numbers when both read as numbers, else as text.
pub(super) fn equal(a: &Val, b: &Val) -> bool {
    match (a.num(), b.num()) {
        (Some(x), Some(y)) => x == y,
        _ => a.text() == b.text(),
    }
}

fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a.num(), b.num()) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(a.text()?.cmp(&b.text()?)),
    }
}

fn arithmetic(op: BinOp, x: &Val, y: &Val) -> Val {
    let (Some(a), Some(b)) = (x.num(), y.num()) else {
        return Val::Null;
    };
    Val::Num(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div if b != 0.0 => a / b,
        BinOp::Mod if b != 0.0 => a % b,
        BinOp::Pow => a.powf(b),
        _ => return Val::Null,
    })
}
