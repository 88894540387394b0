//! Syntax tree of a SystemTap script after preprocessing.
//!
//! The tree is a plain owned (`Box`/`Vec`) tree: walk it with `match`.
//! Every node carries a [`Span`]; macro-expanded nodes point at the macro
//! body text (possibly in a library `.stpm` file).

use crate::diagnostic::Span;

/// One parsed script or tapset file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub items: Vec<Item>,
    pub span: Span,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Probe(Probe),
    Alias(ProbeAlias),
    Function(Function),
    Global(GlobalDecl),
    /// `%{ ... %}` at top level: C code copied into the module.
    Embedded(EmbeddedCode),
}

/// `probe P1, P2 { body }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub points: Vec<ProbePoint>,
    pub body: Block,
    pub span: Span,
}

/// `probe a.b = p1, p2 { prologue }`, `probe a.b += p { epilogue }` or
/// `probe a.b = p { prologue }, { epilogue }`; several names are allowed
/// (`probe a = b = p {}`). At least one of the bodies is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAlias {
    pub names: Vec<ProbePoint>,
    pub points: Vec<ProbePoint>,
    /// Runs before the handler of a probe using the alias.
    pub prologue: Option<Block>,
    /// Runs after the handler of a probe using the alias.
    pub epilogue: Option<Block>,
    pub span: Span,
}

/// One probe point: dotted components plus `?`/`!` and an arming condition.
/// Brace groups (`a.{b,c}`) are expanded by the parser into several points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePoint {
    pub components: Vec<Component>,
    /// `?`: a point that cannot be resolved is ignored.
    pub optional: bool,
    /// `!`: once this point resolves, later alternatives are not tried (implies optional).
    pub sufficient: bool,
    /// `if (expr)`: the probe is armed only while the condition holds.
    pub condition: Option<Expr>,
    pub span: Span,
}

/// `name` or `name(literal)`; `name` may contain `*` wildcards (`sys_*`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub arg: Option<Literal>,
    pub span: Span,
}

/// A literal usable where the grammar demands one (probe-point arguments,
/// global initialisers, macro-free constants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Number(i64),
    /// The string as written between quotes, C escapes kept (`\n` stays two
    /// characters, `\"` becomes `"`); adjacent literals are concatenated.
    String(String),
}

/// `:long` / `:string` annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeAnnotation {
    Long,
    String,
}

/// `function name:type (params) :priority { body }` or `%{ C %}` body.
/// Several functions may share a name with different arity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub private: bool,
    pub name: Ident,
    pub return_type: Option<TypeAnnotation>,
    pub params: Vec<Param>,
    /// `: N` after the parameter list: overload resolution priority.
    pub priority: Option<i64>,
    pub body: FunctionBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeAnnotation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionBody {
    Block(Block),
    Embedded(EmbeddedCode),
}

/// `global a, b[100], c% , d = 1` (or `private global ...` / `private a`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalDecl {
    pub private: bool,
    pub vars: Vec<GlobalVar>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalVar {
    pub name: Ident,
    /// `%` suffix: the array wraps (oldest entries are overwritten) when full.
    pub wrap: bool,
    /// `[N]`: maximum number of entries.
    pub size: Option<i64>,
    pub init: Option<Literal>,
    pub span: Span,
}

/// Embedded C, as the text between `%{` and `%}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedCode {
    pub code: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
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
        /// `None` for `for (;;)`, which loops until `break`.
        cond: Option<Expr>,
        step: Option<Expr>,
        body: Box<Stmt>,
    },
    Foreach(Box<Foreach>),
    Break,
    Continue,
    /// `next`: leave the probe handler (or function) early.
    Next,
    Return(Option<Expr>),
    Delete(Expr),
    Try {
        body: Block,
        /// `catch (msg)`: receives the error message.
        catch_var: Option<Ident>,
        catch_body: Block,
    },
    /// A lone `;`.
    Empty,
}

/// `foreach (v = [k1, k2-] in arr[pattern] @sum+ limit N) body`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreach {
    /// `v =`: receives the element value.
    pub value: Option<Ident>,
    pub keys: Vec<Ident>,
    pub array: Indexable,
    /// `arr[i, *]`: iterate only over keys matching the pattern; `None` is `*`.
    pub slice: Option<Vec<Option<Expr>>>,
    pub sort: Option<SortSpec>,
    pub limit: Option<Expr>,
    pub body: Box<Stmt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortSpec {
    pub column: SortColumn,
    pub direction: SortDirection,
    /// `@count+` after the array: sort statistics by this aggregate.
    pub aggregate: Option<StatOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Value,
    /// Index into [`Foreach::keys`] (0-based).
    Key(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortDirection {
    Ascending,
    Descending,
}

/// Something that can be indexed or iterated: an array name or a histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexable {
    Name(Ident),
    Hist(Box<HistOp>),
}

/// `@hist_linear(v, lo, hi, step)` / `@hist_log(v)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistOp {
    pub kind: HistKind,
    pub stat: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistKind {
    Linear { low: i64, high: i64, step: i64 },
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatOp {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Variance,
}

impl StatOp {
    pub fn from_name(name: &str) -> Option<StatOp> {
        Some(match name {
            "count" => StatOp::Count,
            "sum" => StatOp::Sum,
            "min" => StatOp::Min,
            "max" => StatOp::Max,
            "avg" => StatOp::Avg,
            "variance" => StatOp::Variance,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            StatOp::Count => "count",
            StatOp::Sum => "sum",
            StatOp::Min => "min",
            StatOp::Max => "max",
            StatOp::Avg => "avg",
            StatOp::Variance => "variance",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Number(i64),
    /// See [`Literal::String`] for the representation.
    String(String),
    /// A local or global variable.
    Var(String),
    /// `a[i, j]`, `@hist_log(x)[b]`; `None` stands for a `*` wildcard
    /// (valid in `delete a[1, *]` and membership tests).
    Index {
        base: Indexable,
        indexes: Vec<Option<Expr>>,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `print`, `printf`, `sprintf`, ... (see [`PrintFn`]).
    Print(Box<PrintCall>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    /// `++x` / `--x`
    PreIncrement {
        op: IncrementOp,
        operand: Box<Expr>,
    },
    /// `x++` / `x--`
    PostIncrement {
        op: IncrementOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `s =~ "re"` / `s !~ "re"`: the pattern must be a literal.
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
    /// `k in a` / `[k1, *] in a`.
    In {
        keys: Vec<Option<Expr>>,
        array: Indexable,
    },
    /// `@count(x)`, `@variance(x, bits)`.
    Stat {
        op: StatOp,
        operand: Box<Expr>,
        param: Option<i64>,
    },
    /// `$x`, `@cast(..)`, `@var(..)`, `expr->f` with member/index components.
    Target(Box<TargetExpr>),
    /// `@defined(expr)`
    Defined(Box<Expr>),
    /// `@entry(expr)`: value captured at function entry, in a return probe.
    Entry(Box<Expr>),
    /// `@const("NAME")`: a C constant.
    Const(String),
    /// `@probewrite(var)`
    Probewrite(Ident),
    /// `@perf("counter")`
    Perf(String),
    /// `@kregister(n)` / `@uregister(n)`
    Register {
        user: bool,
        number: i64,
    },
    /// `@kderef(size, addr)` / `@uderef(size, addr)`
    Deref {
        user: bool,
        size: i64,
        addr: Box<Expr>,
    },
    /// `%{ C expression %}`
    Embedded(String),
    /// `$1`/`@1`/`$#`/`@#` left unsubstituted (no script arguments were given).
    ScriptArg(ScriptArg),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScriptArg {
    /// `@N` (string form) rather than `$N` (literal form).
    pub string: bool,
    /// `None` for the argument count (`$#`, `@#`).
    pub index: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrintFn {
    Print,
    Println,
    Printf,
    Printd,
    Printdln,
    Sprint,
    Sprintln,
    Sprintf,
    Sprintd,
    Sprintdln,
}

impl PrintFn {
    pub const ALL: [PrintFn; 10] = [
        PrintFn::Print,
        PrintFn::Println,
        PrintFn::Printf,
        PrintFn::Printd,
        PrintFn::Printdln,
        PrintFn::Sprint,
        PrintFn::Sprintln,
        PrintFn::Sprintf,
        PrintFn::Sprintd,
        PrintFn::Sprintdln,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PrintFn::Print => "print",
            PrintFn::Println => "println",
            PrintFn::Printf => "printf",
            PrintFn::Printd => "printd",
            PrintFn::Printdln => "printdln",
            PrintFn::Sprint => "sprint",
            PrintFn::Sprintln => "sprintln",
            PrintFn::Sprintf => "sprintf",
            PrintFn::Sprintd => "sprintd",
            PrintFn::Sprintdln => "sprintdln",
        }
    }

    pub fn from_name(name: &str) -> Option<PrintFn> {
        PrintFn::ALL.into_iter().find(|f| f.name() == name)
    }

    /// First argument is a format string (`printf`, `sprintf`).
    pub fn has_format(self) -> bool {
        matches!(self, PrintFn::Printf | PrintFn::Sprintf)
    }

    /// First argument is a delimiter (`printd`, `printdln`, ...).
    pub fn has_delimiter(self) -> bool {
        matches!(
            self,
            PrintFn::Printd | PrintFn::Printdln | PrintFn::Sprintd | PrintFn::Sprintdln
        )
    }

    /// Returns a string instead of printing (`s` forms).
    pub fn returns_string(self) -> bool {
        self.name().starts_with('s')
    }

    pub fn appends_newline(self) -> bool {
        self.name().ends_with("ln")
    }
}

/// A call of one of the print family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintCall {
    pub function: PrintFn,
    /// The format (printf) or delimiter (printd) literal, escapes kept.
    pub format: Option<String>,
    pub args: Vec<Expr>,
    /// `print(@hist_log(x))`: print a whole histogram.
    pub hist: Option<HistOp>,
}

/// A target-variable expression. Generic over the expression type of its
/// operands so the syntax tree and the IR share one definition (the IR's
/// operands are resolved expressions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetExpr<E = Expr> {
    pub base: TargetBase<E>,
    /// `&$x`: take the address instead of reading the value.
    pub address_of: bool,
    pub components: Vec<TargetComponent<E>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetBase<E = Expr> {
    /// `$name`, `$$vars`, `$$parms`, `$$locals`, `$$return` (stored with the
    /// leading `$`s, trailing pretty-print `$`s moved to a component).
    Var(String),
    /// `@cast(expr, "type"[, "module"])`
    Cast {
        operand: Box<E>,
        type_name: String,
        module: Option<String>,
    },
    /// `@var("name[@cu]"[, "module"])`
    AtVar {
        name: String,
        module: Option<String>,
    },
    /// Any other value followed by `->`/`[`/`$` (its type is inferred).
    Autocast(Box<E>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetComponent<E = Expr> {
    /// `->name`
    Member(Ident),
    /// `[expr]`
    Index(E),
    /// `$` or `$$` at the end: pretty-print the value (`$$` recursively).
    PrettyPrint { deep: bool, span: Span },
}

impl<E> TargetExpr<E> {
    /// The same target with each operand converted by `convert`, in source order.
    pub fn map<F>(&self, mut convert: impl FnMut(&E) -> F) -> TargetExpr<F> {
        let base = match &self.base {
            TargetBase::Var(name) => TargetBase::Var(name.clone()),
            TargetBase::Cast {
                operand,
                type_name,
                module,
            } => TargetBase::Cast {
                operand: Box::new(convert(operand)),
                type_name: type_name.clone(),
                module: module.clone(),
            },
            TargetBase::AtVar { name, module } => TargetBase::AtVar {
                name: name.clone(),
                module: module.clone(),
            },
            TargetBase::Autocast(operand) => TargetBase::Autocast(Box::new(convert(operand))),
        };
        let components = self
            .components
            .iter()
            .map(|c| match c {
                TargetComponent::Member(name) => TargetComponent::Member(name.clone()),
                TargetComponent::Index(index) => TargetComponent::Index(convert(index)),
                TargetComponent::PrettyPrint { deep, span } => TargetComponent::PrettyPrint {
                    deep: *deep,
                    span: *span,
                },
            })
            .collect();
        TargetExpr {
            base,
            address_of: self.address_of,
            components,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Plus,
    Neg,
    Not,
    BitNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncrementOp {
    Increment,
    Decrement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    LogicalOr,
    LogicalAnd,
    BitOr,
    BitXor,
    BitAnd,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    /// `>>>`: logical (unsigned) right shift.
    UShr,
    /// `.`: string concatenation.
    Concat,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::LogicalOr => "||",
            BinaryOp::LogicalAnd => "&&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::BitAnd => "&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Shl => "<<",
            BinaryOp::Shr => ">>",
            BinaryOp::UShr => ">>>",
            BinaryOp::Concat => ".",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignOp {
    Assign,
    /// `<<<`: add a value to a statistics aggregate.
    Aggregate,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    BitAnd,
    BitXor,
    BitOr,
    Concat,
}

impl AssignOp {
    pub const ALL: [AssignOp; 13] = [
        AssignOp::Assign,
        AssignOp::Aggregate,
        AssignOp::Add,
        AssignOp::Sub,
        AssignOp::Mul,
        AssignOp::Div,
        AssignOp::Mod,
        AssignOp::Shl,
        AssignOp::Shr,
        AssignOp::BitAnd,
        AssignOp::BitXor,
        AssignOp::BitOr,
        AssignOp::Concat,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            AssignOp::Assign => "=",
            AssignOp::Aggregate => "<<<",
            AssignOp::Add => "+=",
            AssignOp::Sub => "-=",
            AssignOp::Mul => "*=",
            AssignOp::Div => "/=",
            AssignOp::Mod => "%=",
            AssignOp::Shl => "<<=",
            AssignOp::Shr => ">>=",
            AssignOp::BitAnd => "&=",
            AssignOp::BitXor => "^=",
            AssignOp::BitOr => "|=",
            AssignOp::Concat => ".=",
        }
    }

    /// The binary operator a compound assignment applies, if any.
    pub fn binary_op(self) -> Option<BinaryOp> {
        Some(match self {
            AssignOp::Assign | AssignOp::Aggregate => return None,
            AssignOp::Add => BinaryOp::Add,
            AssignOp::Sub => BinaryOp::Sub,
            AssignOp::Mul => BinaryOp::Mul,
            AssignOp::Div => BinaryOp::Div,
            AssignOp::Mod => BinaryOp::Mod,
            AssignOp::Shl => BinaryOp::Shl,
            AssignOp::Shr => BinaryOp::Shr,
            AssignOp::BitAnd => BinaryOp::BitAnd,
            AssignOp::BitXor => BinaryOp::BitXor,
            AssignOp::BitOr => BinaryOp::BitOr,
            AssignOp::Concat => BinaryOp::Concat,
        })
    }
}
