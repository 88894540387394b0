//! The library API as `stap-pack check` and the semantic passes use it:
//! parse results, tree shapes, diagnostics, tapset macro loading.

use std::path::PathBuf;

use stap_translator::ast::*;
use stap_translator::tapset::{load_library_macros, tapset_dirs};
use stap_translator::target::Runtime;
use stap_translator::{parse, parse_with, ParseOptions, Severity, SourceMap, Target};

fn parse_ok(text: &str) -> File {
    let mut sources = SourceMap::new();
    let file = sources.add("t.stp", text);
    let (tree, diagnostics) = parse(file, text, &Target::default());
    assert!(
        diagnostics.is_empty(),
        "{}",
        sources.render_all(&diagnostics)
    );
    tree
}

/// The expression of `probe begin { x = EXPR }`.
fn assigned_expr(text: &str) -> Expr {
    let tree = parse_ok(&format!("probe begin {{ x = {text} }}"));
    let Item::Probe(probe) = &tree.items[0] else {
        panic!("not a probe")
    };
    let StmtKind::Expr(Expr {
        kind: ExprKind::Assign { value, .. },
        ..
    }) = &probe.body.stmts[0].kind
    else {
        panic!("not an assignment")
    };
    (**value).clone()
}

fn binary(expr: &Expr) -> (BinaryOp, &Expr, &Expr) {
    match &expr.kind {
        ExprKind::Binary { op, lhs, rhs } => (*op, lhs, rhs),
        other => panic!("not binary: {other:?}"),
    }
}

#[test]
fn precedence_matches_systemtap() {
    let e = assigned_expr("1 + 2 * 3");
    let (op, _, rhs) = binary(&e);
    assert_eq!(op, BinaryOp::Add);
    assert_eq!(binary(rhs).0, BinaryOp::Mul);

    // `.` binds looser than `+`, tighter than shifts and comparisons.
    let e = assigned_expr("a . b + c");
    let (op, _, rhs) = binary(&e);
    assert_eq!(op, BinaryOp::Concat);
    assert_eq!(binary(rhs).0, BinaryOp::Add);

    let e = assigned_expr("a == b << c");
    let (op, _, rhs) = binary(&e);
    assert_eq!(op, BinaryOp::Eq);
    assert_eq!(binary(rhs).0, BinaryOp::Shl);

    // `in` sits between `&` and the comparisons.
    let e = assigned_expr("k in arr && ok");
    let (op, lhs, _) = binary(&e);
    assert_eq!(op, BinaryOp::LogicalAnd);
    assert!(matches!(lhs.kind, ExprKind::In { .. }));

    let e = assigned_expr("a ? b : c ? d : e");
    let ExprKind::Ternary { else_value, .. } = &e.kind else {
        panic!()
    };
    assert!(matches!(else_value.kind, ExprKind::Ternary { .. }));

    let e = assigned_expr("y = z <<< 1");
    let ExprKind::Assign { op, value, .. } = &e.kind else {
        panic!()
    };
    assert_eq!(*op, AssignOp::Assign);
    assert!(matches!(
        value.kind,
        ExprKind::Assign {
            op: AssignOp::Aggregate,
            ..
        }
    ));
}

#[test]
fn probe_points_are_structured() {
    let tree = parse_ok(r#"probe kernel.function("vfs_*").return ?, timer.ms(5) if (on) { }"#);
    let Item::Probe(probe) = &tree.items[0] else {
        panic!()
    };
    let first = &probe.points[0];
    let names: Vec<_> = first.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["kernel", "function", "return"]);
    assert_eq!(
        first.components[1].arg,
        Some(Literal::String("vfs_*".into()))
    );
    assert!(first.optional && !first.sufficient);
    let second = &probe.points[1];
    assert_eq!(second.components[1].arg, Some(Literal::Number(5)));
    assert!(second.condition.is_some());
}

#[test]
fn declarations_are_structured() {
    let tree = parse_ok(
        "private global counts%[100], total = 5\n\
         function f:string (a:long, b) :3 { return \"\" }\n\
         probe p.q += begin { }",
    );
    let Item::Global(global) = &tree.items[0] else {
        panic!()
    };
    assert!(global.private);
    assert_eq!(global.vars[0].name.name, "counts");
    assert!(global.vars[0].wrap);
    assert_eq!(global.vars[0].size, Some(100));
    assert_eq!(global.vars[1].init, Some(Literal::Number(5)));
    let Item::Function(function) = &tree.items[1] else {
        panic!()
    };
    assert_eq!(function.return_type, Some(TypeAnnotation::String));
    assert_eq!(function.params[0].ty, Some(TypeAnnotation::Long));
    assert_eq!(function.params[1].ty, None);
    assert_eq!(function.priority, Some(3));
    let Item::Alias(alias) = &tree.items[2] else {
        panic!()
    };
    assert!(alias.prologue.is_none() && alias.epilogue.is_some());
}

#[test]
fn foreach_and_targets_are_structured() {
    let tree =
        parse_ok("global a\nprobe end { foreach (v = [k1, k2] in a @max- limit 3) x = $p->q[1]$ }");
    let Item::Probe(probe) = &tree.items[1] else {
        panic!()
    };
    let StmtKind::Foreach(foreach) = &probe.body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(foreach.value.as_ref().unwrap().name, "v");
    assert_eq!(foreach.keys.len(), 2);
    let sort = foreach.sort.as_ref().unwrap();
    assert_eq!(sort.column, SortColumn::Value);
    assert_eq!(sort.direction, SortDirection::Descending);
    assert_eq!(sort.aggregate, Some(StatOp::Max));
    assert!(foreach.limit.is_some());
    let StmtKind::Expr(Expr {
        kind: ExprKind::Assign { value, .. },
        ..
    }) = &foreach.body.kind
    else {
        panic!()
    };
    let ExprKind::Target(target) = &value.kind else {
        panic!()
    };
    assert_eq!(target.base, TargetBase::Var("$p".into()));
    assert!(matches!(&target.components[0], TargetComponent::Member(m) if m.name == "q"));
    assert!(matches!(target.components[1], TargetComponent::Index(_)));
    assert!(matches!(
        target.components[2],
        TargetComponent::PrettyPrint { deep: false, .. }
    ));
}

#[test]
fn spans_point_into_the_source() {
    let text = "probe begin {\n  x = foo(1)\n}\n";
    let tree = parse_ok(text);
    let Item::Probe(probe) = &tree.items[0] else {
        panic!()
    };
    let stmt = &probe.body.stmts[0];
    assert_eq!(
        &text[stmt.span.start as usize..stmt.span.end as usize],
        "x = foo(1)"
    );
    assert_eq!(
        &text[probe.span.start as usize..probe.span.end as usize],
        text.trim_end()
    );
}

#[test]
fn errors_render_with_location_and_recovery_continues() {
    let text = "probe begin { x = 1 +; }\nprobe end { y = (2 }\nprobe error { ok = 1 }\n";
    let mut sources = SourceMap::new();
    let file = sources.add("bad.stp", text);
    let (tree, diagnostics) = parse(file, text, &Target::default());
    assert_eq!(diagnostics.len(), 2);
    assert!(diagnostics.iter().all(|d| d.severity == Severity::Error));
    assert_eq!(
        tree.items.len(),
        3,
        "every probe is kept, minus its bad statements"
    );
    let rendered = sources.render(&diagnostics[1]);
    assert_eq!(
        rendered,
        "error: expected ')', found '}'\n  --> bad.stp:2:20\n   |\n 2 | probe end { y = (2 }\n   |                    ^\n"
    );
}

/// A tapset tree laid out as SystemTap's: root, arch and runtime subdirectories.
fn fake_tapset() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("root.stpm", "@define from_root %( 1 %)");
    write("x86_64/arch.stpm", "@define from_arch %( 2 %)");
    write("linux/kernel.stpm", "@define from_linux %( 3 %)");
    write("linux/x86_64/both.stpm", "@define from_linux_arch %( 4 %)");
    write("dyninst/user.stpm", "@define from_dyninst %( 5 %)");
    write("arm64/other.stpm", "@define from_arm64 %( 6 %)");
    write("linux/ignored.stp", "@define not_a_macro_file %( 7 %)");
    root
}

#[test]
fn tapset_macros_follow_the_target() {
    let root = fake_tapset();
    let roots = [root.path().to_path_buf()];
    let kernel = Target::default();
    let dirs: Vec<PathBuf> = tapset_dirs(root.path(), &kernel);
    assert_eq!(dirs[2], root.path().join("linux"));

    let mut sources = SourceMap::new();
    let (library, diagnostics) = load_library_macros(&roots, &kernel, &mut sources);
    assert!(
        diagnostics.is_empty(),
        "{}",
        sources.render_all(&diagnostics)
    );
    for name in ["from_root", "from_arch", "from_linux", "from_linux_arch"] {
        assert!(library.get(name).is_some(), "{name} missing");
    }
    for name in ["from_dyninst", "from_arm64", "not_a_macro_file"] {
        assert!(library.get(name).is_none(), "{name} loaded");
    }

    let text = "probe begin { x = @from_root + @from_linux_arch }";
    let file = sources.add("s.stp", text);
    let options = ParseOptions {
        target: &kernel,
        macros: Some(&library),
        script_args: None,
    };
    let (_, diagnostics) = parse_with(file, text, &options);
    assert!(
        diagnostics.is_empty(),
        "{}",
        sources.render_all(&diagnostics)
    );

    let dyninst = Target {
        runtime: Runtime::Dyninst,
        ..Target::default()
    };
    let (library, _) = load_library_macros(&roots, &dyninst, &mut SourceMap::new());
    assert!(library.get("from_dyninst").is_some());
    assert!(library.get("from_linux").is_none());
}

#[test]
fn library_errors_point_into_macro_files() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.stpm"), "@define dup %( 1 %)").unwrap();
    std::fs::write(
        root.path().join("b.stpm"),
        "@define dup %( 2 %)\nprobe begin {}",
    )
    .unwrap();
    let mut sources = SourceMap::new();
    let (_, diagnostics) = load_library_macros(
        &[root.path().to_path_buf()],
        &Target::default(),
        &mut sources,
    );
    let rendered = sources.render_all(&diagnostics);
    assert!(
        rendered.contains("unexpected keyword 'probe' in library macro file"),
        "{rendered}"
    );
    assert!(rendered.contains("b.stpm:2:1"), "{rendered}");
    assert!(
        rendered.contains("duplicate definition of library macro '@dup'"),
        "{rendered}"
    );
    assert!(rendered.contains("a.stpm:1:9"), "{rendered}");
}

#[test]
fn front_end_values_can_cross_threads() {
    // Build matrices parse the same script for many kernels in parallel.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Target>();
    assert_send_sync::<stap_translator::MacroLibrary>();
    assert_send_sync::<File>();
    assert_send_sync::<stap_translator::Diagnostic>();
    assert_send_sync::<SourceMap>();
}
