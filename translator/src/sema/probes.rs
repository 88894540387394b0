//! Builtin probe families: argument shapes and the privilege each needs.

use crate::ast::{self, Literal};
use crate::diagnostic::Diagnostic;
use crate::ir::Family;
use crate::target::Privilege;

/// What a family needs. stapusr may use begin/end/error/never, timers and
/// probes on its own processes (the runtime enforces "own"); everything
/// touching the kernel needs stapsys.
pub fn family_privilege(family: Family) -> Privilege {
    match family {
        Family::Begin
        | Family::End
        | Family::Error
        | Family::Never
        | Family::Timer
        | Family::Process => Privilege::Stapusr,
        Family::Kernel
        | Family::Module
        | Family::Kprobe
        | Family::Procfs
        | Family::Perf
        | Family::Netfilter
        | Family::Java => Privilege::Stapsys,
    }
}

/// Checks the components of a point of a family this project supports
/// (begin, end, error, never, timer); other families are checked against
/// debuginfo later.
pub fn check_shape(family: Family, point: &ast::ProbePoint) -> Result<(), Diagnostic> {
    let components = &point.components;
    let shape_error = |component: &ast::Component, message: String, forms: &str| {
        Diagnostic::error(component.span, message).with_note(format!("valid forms: {forms}"))
    };
    match family {
        Family::Begin | Family::End | Family::Error => {
            let forms = format!("`{0}`, `{0}(PRIORITY)`", family.name());
            let first = &components[0];
            if let Some(Literal::String(_)) = first.arg {
                return Err(shape_error(
                    first,
                    format!("`{}` takes a number", family.name()),
                    &forms,
                ));
            }
            if let Some(extra) = components.get(1) {
                return Err(shape_error(
                    extra,
                    format!("unexpected `{}` after `{}`", extra.name, family.name()),
                    &forms,
                ));
            }
        }
        Family::Never if components[0].arg.is_some() || components.len() > 1 => {
            let at = components.get(1).unwrap_or(&components[0]);
            return Err(shape_error(
                at,
                "`never` takes no argument".to_string(),
                "`never`",
            ));
        }
        Family::Timer => check_timer(point)?,
        _ => {}
    }
    Ok(())
}

const TIMER_FORMS: &str = "`timer.s(N)`, `timer.sec(N)`, `timer.ms(N)`, `timer.msec(N)`, `timer.us(N)`, \
`timer.usec(N)`, `timer.ns(N)`, `timer.nsec(N)`, `timer.jiffies(N)`, `timer.hz(N)`, each optionally \
followed by `.randomize(M)` (except `hz`); `timer.profile`, `timer.profile.tick`, `timer.profiletick`";

fn check_timer(point: &ast::ProbePoint) -> Result<(), Diagnostic> {
    let components = &point.components;
    let error = |component: &ast::Component, message: String| {
        Err(Diagnostic::error(component.span, message)
            .with_note(format!("valid forms: {TIMER_FORMS}")))
    };
    if components[0].arg.is_some() {
        return error(&components[0], "`timer` takes no argument".to_string());
    }
    let Some(unit) = components.get(1) else {
        return error(
            &components[0],
            "`timer` needs a unit, e.g. `timer.ms(100)`".to_string(),
        );
    };
    let randomizable = match unit.name.as_str() {
        "profile" | "profiletick" => {
            if unit.arg.is_some() {
                return error(unit, format!("`timer.{}` takes no argument", unit.name));
            }
            let tick = components
                .get(2)
                .is_some_and(|c| c.name == "tick" && c.arg.is_none());
            if let Some(extra) = components.get(if tick && unit.name == "profile" { 3 } else { 2 })
            {
                return error(
                    extra,
                    format!("unexpected `{}` after `timer.{}`", extra.name, unit.name),
                );
            }
            return Ok(());
        }
        "s" | "sec" | "ms" | "msec" | "us" | "usec" | "ns" | "nsec" | "jiffies" => true,
        "hz" => false,
        other => return error(unit, format!("unknown timer unit `{other}`")),
    };
    match unit.arg {
        Some(Literal::Number(n)) if n > 0 => {}
        Some(Literal::Number(_)) => {
            return error(
                unit,
                format!("`timer.{}` needs a positive interval", unit.name),
            )
        }
        _ => {
            return error(
                unit,
                format!("`timer.{}` needs a numeric interval", unit.name),
            )
        }
    }
    if let Some(extra) = components.get(2) {
        if extra.name != "randomize" || !randomizable {
            return error(
                extra,
                format!("unexpected `{}` after `timer.{}`", extra.name, unit.name),
            );
        }
        if !matches!(extra.arg, Some(Literal::Number(n)) if n >= 0) {
            return error(extra, "`randomize` needs a non-negative number".to_string());
        }
        if let Some(more) = components.get(3) {
            return error(
                more,
                format!("unexpected `{}` after `randomize`", more.name),
            );
        }
    }
    Ok(())
}
