//! SQL front door of the FE: the Doris statement AST ([`ast`]) and the parser that
//! recognises Doris DDL/admin/session statements ([`parser::parse_statement`]) while
//! passing queries and DML through as text for DataFusion to plan.

pub mod ast;
pub mod parser;
