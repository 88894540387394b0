//! The resolved, typed program: what semantic analysis produces and what a
//! back end consumes. Names are resolved to ids, every expression carries its
//! type, probes are expanded through their aliases.
//!
//! Only [`validate`] produces a [`ValidProgram`]; back ends take nothing else,
//! so they may rely on the invariants it checks (ids in range, no unknown
//! types, operand types consistent with each operator).

mod print;
mod validate;

pub use print::print_program;
pub use validate::{validate, ValidProgram};

use crate::ast::{
    AssignOp, BinaryOp, HistKind, IncrementOp, Literal, PrintFn, SortDirection, StatOp, UnaryOp,
};
use crate::diagnostic::Span;
use crate::target::Privilege;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalId(pub u32);

/// Index into the locals of the enclosing function or probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionId(pub u32);

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// 64-bit signed integer.
    Long,
    /// Bounded string (MAXSTRINGLEN).
    String,
    /// A statistics aggregate: only `<<<` and the `@count`/`@hist_*` family apply.
    Stats,
    /// No value: calls of functions without a return value, `print`, `<<<`.
    Void,
    /// Not inferred yet. Exists only during analysis: validation rejects it.
    Unknown,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Long => "long",
            Type::String => "string",
            Type::Stats => "stats",
            Type::Void => "void",
            Type::Unknown => "unknown",
        }
    }

    /// A long or a string: what a variable, key or operand holds.
    pub fn is_value(self) -> bool {
        matches!(self, Type::Long | Type::String)
    }
}

/// The type of a variable: a scalar, or an associative array when it has keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarType {
    pub value: Type,
    /// Key types of an array, empty for a scalar.
    pub keys: Vec<Type>,
}

impl VarType {
    pub fn scalar(value: Type) -> VarType {
        VarType {
            value,
            keys: Vec::new(),
        }
    }

    pub fn is_array(&self) -> bool {
        !self.keys.is_empty()
    }
}

/// A resolved program (see [`ValidProgram`] for the validated form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub globals: Vec<Global>,
    pub functions: Vec<Function>,
    pub probes: Vec<Probe>,
    /// Top-level `%{ ... %}` blocks, in file order.
    pub embedded_c: Vec<EmbeddedC>,
    /// Library files pulled in because the script uses something they
    /// define, in the order they were pulled in.
    pub library_files: Vec<String>,
    /// The privilege needed to run the whole program: the maximum over its
    /// probes and functions.
    pub privilege: Privilege,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub name: String,
    pub ty: VarType,
    /// `%`: a full array overwrites its oldest entries.
    pub wrap: bool,
    /// `[N]`: maximum number of entries of an array.
    pub size: Option<i64>,
    pub init: Option<Literal>,
    /// Declared in a library file rather than the user's script.
    pub from_library: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub name: String,
    /// Locals are scalars: arrays and statistics are global only.
    pub ty: Type,
    pub kind: LocalKind,
    /// Where the variable first appears.
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalKind {
    Param,
    /// Implicitly declared by use, as in SystemTap.
    Var,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// The first `locals` are the parameters, in order.
    pub param_count: usize,
    pub locals: Vec<Local>,
    pub return_type: Type,
    pub body: FunctionBody,
    /// Overload tried when this one executes `next` (same name and arity,
    /// lower priority).
    pub next_overload: Option<FunctionId>,
    /// What this function needs, including everything it calls.
    pub privilege: Privilege,
    pub from_library: bool,
    pub span: Span,
}

impl Function {
    pub fn params(&self) -> &[Local] {
        &self.locals[..self.param_count.min(self.locals.len())]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionBody {
    Script(Block),
    Embedded(EmbeddedC),
}

/// C code with the pragmas SystemTap recognises in its comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedC {
    pub code: String,
    pub pragmas: Pragmas,
    pub span: Span,
}

/// `/* pure */`, `/* unprivileged */`, `/* myproc-unprivileged */`,
/// `/* guru */`, `/* string */`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Pragmas {
    pub pure: bool,
    pub unprivileged: bool,
    pub myproc_unprivileged: bool,
    pub guru: bool,
    /// An embedded expression yielding a string.
    pub string: bool,
}

impl Pragmas {
    pub fn of(code: &str) -> Pragmas {
        Pragmas {
            pure: code.contains("/* pure */"),
            unprivileged: code.contains("/* unprivileged */"),
            myproc_unprivileged: code.contains("/* myproc-unprivileged */"),
            guru: code.contains("/* guru */"),
            string: code.contains("/* string */"),
        }
    }
}

/// One probe handler after alias expansion: the points it is attached to and
/// the body with alias prologues before and epilogues after the user's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub points: Vec<ProbePoint>,
    pub locals: Vec<Local>,
    pub body: Block,
    /// The aliases expanded to produce this probe, outermost first.
    pub aliases: Vec<String>,
    pub privilege: Privilege,
    pub from_library: bool,
    pub span: Span,
}

/// The builtin probe families (the first component of a point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Begin,
    End,
    Error,
    Never,
    Timer,
    Kernel,
    Module,
    Kprobe,
    Process,
    Procfs,
    Perf,
    Netfilter,
    Java,
}

impl Family {
    pub const ALL: [Family; 13] = [
        Family::Begin,
        Family::End,
        Family::Error,
        Family::Never,
        Family::Timer,
        Family::Kernel,
        Family::Module,
        Family::Kprobe,
        Family::Process,
        Family::Procfs,
        Family::Perf,
        Family::Netfilter,
        Family::Java,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Begin => "begin",
            Family::End => "end",
            Family::Error => "error",
            Family::Never => "never",
            Family::Timer => "timer",
            Family::Kernel => "kernel",
            Family::Module => "module",
            Family::Kprobe => "kprobe",
            Family::Process => "process",
            Family::Procfs => "procfs",
            Family::Perf => "perf",
            Family::Netfilter => "netfilter",
            Family::Java => "java",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A concrete probe point (no aliases left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePoint {
    pub family: Family,
    /// All components, the family's included.
    pub components: Vec<PointComponent>,
    pub optional: bool,
    pub sufficient: bool,
    /// Arming condition; refers to globals only.
    pub condition: Option<Expr>,
    /// The point as the user wrote it (before alias expansion).
    pub written: String,
    pub span: Span,
}

/// `name` or `name(literal)`, as the syntax tree has it.
pub type PointComponent = crate::ast::Component;

impl ProbePoint {
    /// The component named `name`, if present.
    pub fn component(&self, name: &str) -> Option<&PointComponent> {
        self.components.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StmtKind {
    Block(Block),
    Expr(Expr),
    If {
        cond: Expr,
        then_branch: Box<Stmt>,
        else_branch: Option<Box<Stmt>>,
    },
    While {
        cond: Expr,
        body: Box<Stmt>,
    },
    For {
        init: Option<Expr>,
        cond: Option<Expr>,
        step: Option<Expr>,
        body: Box<Stmt>,
    },
    Foreach(Box<Foreach>),
    Break,
    Continue,
    Next,
    Return(Option<Expr>),
    /// `delete x`, `delete a`, `delete a[k, *]`.
    Delete(Expr),
    Try {
        body: Block,
        /// Receives the error message (a string local).
        catch_var: Option<LocalId>,
        catch_body: Block,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreach {
    pub value: Option<LocalId>,
    pub keys: Vec<LocalId>,
    pub source: Iterable,
    /// `a[k, *]`: only keys matching the pattern (`None` is `*`).
    pub slice: Option<Vec<Option<Expr>>>,
    pub sort: Option<Sort>,
    pub limit: Option<Expr>,
    pub body: Box<Stmt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Iterable {
    Global(GlobalId),
    /// The buckets of a histogram: one long key (the bucket index), long values.
    Hist(Box<Hist>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    /// `None` sorts by value, `Some(i)` by the i-th key.
    pub key: Option<usize>,
    pub direction: SortDirection,
    pub aggregate: Option<StatOp>,
}

/// `@hist_linear(stat, ...)` / `@hist_log(stat)`: `stat` has type stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hist {
    pub kind: HistKind,
    pub stat: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Number(i64),
    /// Escapes kept as written (see [`Literal::String`]).
    String(String),
    Local(LocalId),
    /// A whole global: a scalar, or an array in `delete`/`<<<` positions.
    Global(GlobalId),
    /// `a[k1, k2]`; `None` is a `*` wildcard (only in `delete` and `in`).
    Index {
        array: GlobalId,
        keys: Vec<Option<Expr>>,
    },
    /// `@hist_log(x)[bucket]`: the count in one bucket.
    HistBucket {
        hist: Box<Hist>,
        bucket: Box<Expr>,
    },
    Call {
        function: FunctionId,
        args: Vec<Expr>,
    },
    Print(Box<Print>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    /// `++x`/`--x` (`prefix`) or `x++`/`x--`.
    Increment {
        op: IncrementOp,
        prefix: bool,
        target: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Regex {
        subject: Box<Expr>,
        negated: bool,
        pattern: String,
    },
    Ternary {
        cond: Box<Expr>,
        then_value: Box<Expr>,
        else_value: Box<Expr>,
    },
    Assign {
        op: AssignOp,
        target: Box<Expr>,
        value: Box<Expr>,
    },
    In {
        keys: Vec<Option<Expr>>,
        array: GlobalId,
    },
    Stat {
        op: StatOp,
        operand: Box<Expr>,
        param: Option<i64>,
    },
    /// Resolved only against debuginfo by a later pass: typed `long`, or
    /// `string` for pretty-printing forms (`$x$`, `$$vars`).
    Target(Box<TargetRef>),
    /// `@defined(...)`: decided with the target variables.
    Defined(Box<Expr>),
    /// `@entry(expr)`: value captured at function entry.
    Entry(Box<Expr>),
    /// `@const("NAME")`
    Const(String),
    Probewrite(String),
    Perf(String),
    Register {
        user: bool,
        number: i64,
    },
    Deref {
        user: bool,
        size: i64,
        addr: Box<Expr>,
    },
    /// `%{ C expression %}`
    Embedded(EmbeddedC),
    /// `$N`/`@N`/`$#` supplied at run time.
    ScriptArg(crate::ast::ScriptArg),
}

/// A target-variable expression kept as written (its subexpressions resolved).
pub type TargetRef = crate::ast::TargetExpr<Expr>;
pub type TargetBase = crate::ast::TargetBase<Expr>;
pub type TargetComponent = crate::ast::TargetComponent<Expr>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Print {
    pub function: PrintFn,
    /// Parsed format of `printf`/`sprintf`.
    pub format: Option<Format>,
    /// Delimiter of `printd`/`sprintd` (escapes kept).
    pub delimiter: Option<String>,
    pub args: Vec<Expr>,
    pub hist: Option<Hist>,
}

/// A printf format string split into literal text and conversions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// The format as written (escapes kept).
    pub text: String,
    pub pieces: Vec<FormatPiece>,
}

impl Format {
    /// The types of the arguments the format consumes, in order (`*`
    /// widths and precisions included), each with the conversion asking for it.
    pub fn arguments(&self) -> Vec<(Type, String)> {
        let mut arguments = Vec::new();
        for piece in &self.pieces {
            let FormatPiece::Conversion(conversion) = piece else {
                continue;
            };
            for count in [conversion.width, conversion.precision]
                .into_iter()
                .flatten()
            {
                if count == FormatCount::Arg {
                    arguments.push((Type::Long, "`*` width or precision".to_string()));
                }
            }
            arguments.push((
                conversion.arg_type(),
                format!("`%{}`", conversion.conversion),
            ));
        }
        arguments
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPiece {
    /// Literal text, escapes kept; `%%` is stored as `%`.
    Text(String),
    Conversion(Conversion),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// Any of `-+ #0`.
    pub flags: String,
    pub width: Option<FormatCount>,
    pub precision: Option<FormatCount>,
    /// The conversion character (`d i o u x X p c b s m M`).
    pub conversion: char,
}

impl Conversion {
    /// The type of the argument the conversion consumes.
    pub fn arg_type(&self) -> Type {
        match self.conversion {
            's' => Type::String,
            _ => Type::Long,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatCount {
    Fixed(u32),
    /// `*`: taken from a long argument before the value.
    Arg,
}

/// The larger of two privilege levels.
pub fn max_privilege(a: Privilege, b: Privilege) -> Privilege {
    if privilege_rank(a) >= privilege_rank(b) {
        a
    } else {
        b
    }
}

fn privilege_rank(p: Privilege) -> u8 {
    match p {
        Privilege::Stapusr => 0,
        Privilege::Stapsys => 1,
        Privilege::Stapdev => 2,
    }
}
