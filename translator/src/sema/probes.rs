//! Builtin probe families: argument shapes and the privilege each needs.

use crate::ast::{self, Literal};
use crate::diagnostic::Diagnostic;
use crate::ir::{self, Family};
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

/// What a concrete point needs: its family's privilege, or stapdev for
/// probes at absolute addresses (guru mode).
pub fn point_privilege(point: &ir::ProbePoint) -> Privilege {
    if point.family == Family::Kprobe && point.component("statement").is_some() {
        Privilege::Stapdev
    } else {
        family_privilege(point.family)
    }
}

/// Checks the components of a point of a family this project supports
/// (begin, end, error, never, timer, kprobe, `kernel.trace`,
/// `kernel.syscall_nr`); other families are checked against debuginfo
/// later. `guru`: guru-mode points are allowed here (`-g`, or a library
/// file).
pub fn check_shape(family: Family, point: &ast::ProbePoint, guru: bool) -> Result<(), Diagnostic> {
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
        Family::Kprobe => check_kprobe(point, guru)?,
        Family::Kernel => check_kernel(point)?,
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

const KPROBE_FORMS: &str = "`kprobe.function(\"NAME\")`, `kprobe.module(\"MODULE\").function(\"NAME\")`, \
each optionally followed by `.return` and `.return.maxactive(N)`; `kprobe.statement(ADDRESS).absolute` \
(guru mode)";

fn check_kprobe(point: &ast::ProbePoint, guru: bool) -> Result<(), Diagnostic> {
    let components = &point.components;
    let error = |component: &ast::Component, message: String| {
        Err(Diagnostic::error(component.span, message)
            .with_note(format!("valid forms: {KPROBE_FORMS}")))
    };
    // Any name SystemTap accepts passes (wildcards too: the back end says
    // what it cannot compile); an argument that is not a literal passes in
    // library aliases (`guru`), whose macros may be another tapset's.
    let name_arg = |component: &ast::Component, what: &str| match &component.arg {
        Some(Literal::String(name)) if !name.is_empty() => Ok(()),
        None if guru => Ok(()),
        _ => error(
            component,
            format!("`kprobe.{}` needs a {what} name in quotes", component.name),
        ),
    };
    if components[0].arg.is_some() {
        return error(&components[0], "`kprobe` takes no argument".to_string());
    }
    let Some(first) = components.get(1) else {
        return error(
            &components[0],
            "`kprobe` needs a function, e.g. `kprobe.function(\"vfs_read\")`".to_string(),
        );
    };
    if first.name == "statement" {
        if !matches!(first.arg, Some(Literal::Number(address)) if address != 0) {
            return error(
                first,
                "`kprobe.statement` needs a nonzero address".to_string(),
            );
        }
        match components.get(2) {
            Some(absolute) if absolute.name == "absolute" && absolute.arg.is_none() => {}
            _ => {
                let at = components.get(2).unwrap_or(first);
                return error(
                    at,
                    "`kprobe.statement(ADDRESS)` must be followed by `.absolute`".to_string(),
                );
            }
        }
        if let Some(extra) = components.get(3) {
            return error(
                extra,
                format!("unexpected `{}` after `.absolute`", extra.name),
            );
        }
        if !guru {
            return Err(Diagnostic::error(
                first.span,
                "`kprobe.statement(ADDRESS).absolute` requires guru mode".to_string(),
            )
            .with_note("run with -g to allow it (the script then needs stapdev privilege)"));
        }
        return Ok(());
    }
    let mut rest = &components[1..];
    if first.name == "module" {
        name_arg(first, "module")?;
        rest = &rest[1..];
    }
    let Some(function) = rest.first() else {
        return error(
            first,
            "`kprobe.module(\"MODULE\")` needs `.function(\"NAME\")`".to_string(),
        );
    };
    if function.name != "function" {
        return error(
            function,
            format!("unknown kprobe point `{}`", function.name),
        );
    }
    name_arg(function, "function")?;
    let mut rest = &rest[1..];
    // `.call`: the function's own entry (not inlined copies), which is
    // what a kprobe on it is anyway.
    if let Some(call) = rest.first().filter(|c| c.name == "call") {
        if call.arg.is_some() {
            return error(call, "`.call` takes no argument".to_string());
        }
        rest = &rest[1..];
    }
    if let Some(ret) = rest.first().filter(|c| c.name == "return") {
        if ret.arg.is_some() {
            return error(ret, "`.return` takes no argument".to_string());
        }
        rest = &rest[1..];
        if let Some(maxactive) = rest.first().filter(|c| c.name == "maxactive") {
            if !matches!(maxactive.arg, Some(Literal::Number(n)) if (1..=i64::from(i32::MAX)).contains(&n))
            {
                return error(maxactive, "`maxactive` needs a positive number".to_string());
            }
            rest = &rest[1..];
        }
    }
    if let Some(extra) = rest.first() {
        let hint = if extra.name == "maxactive" {
            " (`maxactive` applies to `.return` probes)"
        } else {
            ""
        };
        return error(
            extra,
            format!("unexpected `{}` in a kprobe point{hint}", extra.name),
        );
    }
    Ok(())
}

const TRACE_FORMS: &str = "`kernel.trace(\"SUBSYSTEM:EVENT\")`, `kernel.trace(\"EVENT\")`";
const SYSCALL_NR_FORMS: &str = "`kernel.syscall_nr(N)`, `kernel.syscall_nr(N).return`";

/// `kernel.trace("subsystem:event")` and the syscall tapset's building
/// block `kernel.syscall_nr(N)[.return]`; the other `kernel.*` points need
/// debuginfo and are left to the back end, which refuses them.
fn check_kernel(point: &ast::ProbePoint) -> Result<(), Diagnostic> {
    let components = &point.components;
    let Some(kind) = components.get(1) else {
        return Ok(());
    };
    let forms = match kind.name.as_str() {
        "trace" => TRACE_FORMS,
        "syscall_nr" => SYSCALL_NR_FORMS,
        _ => return Ok(()),
    };
    let error = |component: &ast::Component, message: String| {
        Err(Diagnostic::error(component.span, message).with_note(format!("valid forms: {forms}")))
    };
    if components[0].arg.is_some() {
        return error(&components[0], "`kernel` takes no argument".to_string());
    }
    if kind.name == "trace" {
        let Some(Literal::String(name)) = &kind.arg else {
            return error(
                kind,
                "`kernel.trace` needs a tracepoint name string".to_string(),
            );
        };
        if let Err(why) = split_tracepoint(name) {
            return error(kind, format!("`kernel.trace(\"{name}\")`: {why}"));
        }
        if let Some(extra) = components.get(2) {
            return error(
                extra,
                format!("unexpected `{}` after `kernel.trace`", extra.name),
            );
        }
        return Ok(());
    }
    if !matches!(kind.arg, Some(Literal::Number(n)) if (0..=i64::from(u16::MAX)).contains(&n)) {
        return error(
            kind,
            "`kernel.syscall_nr` needs a syscall number (0 to 65535)".to_string(),
        );
    }
    let after_return = match components.get(2) {
        Some(c) if c.name == "return" && c.arg.is_none() => 3,
        _ => 2,
    };
    if let Some(extra) = components.get(after_return) {
        return error(
            extra,
            format!("unexpected `{}` after `kernel.syscall_nr`", extra.name),
        );
    }
    Ok(())
}

/// A tracepoint name: (subsystem if given, event). Both are C identifiers;
/// the kernel finds tracepoints by event name, the subsystem is checked
/// at build time where the kernel's headers tell it.
pub fn split_tracepoint(name: &str) -> Result<(Option<&str>, &str), String> {
    let (subsystem, event) = match name.split_once(':') {
        Some((subsystem, event)) => (Some(subsystem), event),
        None => (None, name),
    };
    let identifier = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if name.contains(['*', '?', '[']) {
        return Err("wildcards in tracepoint names are not supported; name each event".to_string());
    }
    if subsystem.is_some_and(|s| !identifier(s)) || !identifier(event) {
        return Err(
            "expected `SUBSYSTEM:EVENT` or `EVENT`, each a C identifier (e.g. `sched:sched_switch`)"
                .to_string(),
        );
    }
    Ok((subsystem, event))
}
