package mysqlcdc

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	tmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values in parsed statements
)

// ErrUnparsableDDL is returned for a DDL statement the parser rejects that
// may change a captured table, under schema.unparsable.ddl: fail.
var ErrUnparsableDDL = errors.New("unparsable DDL")

// tableRef names a table; db is resolved against the QUERY event's schema.
type tableRef struct{ db, name string }

func (r tableRef) String() string { return r.db + "." + r.name }

// ddlKind is what a statement does to one table.
type ddlKind int

const (
	ddlCreate   ddlKind = iota + 1 // the table now exists with cols
	ddlAlter                       // edits apply to the table's columns
	ddlDrop                        // the table is gone
	ddlDropDB                      // every table of t.db is gone
	ddlRename                      // t is now called to
	ddlTruncate                    // every row is gone
)

// ddlOp is one table change a DDL statement makes, in statement order.
type ddlOp struct {
	kind ddlKind
	t    tableRef
	to   tableRef  // ddlRename
	like *tableRef // ddlCreate ... LIKE
	// unknown: the statement changes the columns in a way the binlog's
	// TABLE_MAP shows but the statement does not (CREATE ... SELECT, DROP
	// CONSTRAINT): what is JSON is read from the catalogue instead.
	unknown bool
	json    []string  // ddlCreate: the JSON columns
	edits   []colEdit // ddlAlter
}

// colEdit is one column change of an ALTER TABLE.
type colEdit struct {
	drop string // a column that goes away (DROP, or the old name of CHANGE/MODIFY)
	add  string // a column (re)defined (ADD, MODIFY, CHANGE)
	json bool   // add is a JSON column
	from string // RENAME COLUMN from → add
}

// ddlParser parses DDL with TiDB's parser, which speaks MySQL's dialect and
// most of MariaDB's. Not safe for concurrent use.
type ddlParser struct{ p *parser.Parser }

// parseModes are the sql_mode flags that change how SQL parses.
const parseModes = tmysql.ModeANSIQuotes | tmysql.ModePipesAsConcat | tmysql.ModeIgnoreSpace |
	tmysql.ModeHighNotPrecedence | tmysql.ModeNoBackslashEscapes

// parse returns the table changes of one QUERY event's statement, with
// unqualified names in db, parsed in the event's sql_mode (vars: its status
// variables). A statement that is no table DDL (GRANT, CREATE VIEW, ...)
// yields none.
func (d *ddlParser) parse(sql, db string, vars []byte) ([]ddlOp, error) {
	if d.p == nil {
		d.p = parser.New()
	}
	mode, known := eventSQLMode(vars)
	d.p.SetSQLMode(mode & parseModes)
	stmts, _, err := d.p.Parse(sql, "", "")
	if err != nil && !known {
		// Without the event's sql_mode: a statement written with
		// ANSI_QUOTES only parses in it, and means the same there.
		d.p.SetSQLMode(tmysql.ModeANSIQuotes)
		var err2 error
		if stmts, _, err2 = d.p.Parse(sql, "", ""); err2 == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	var ops []ddlOp
	for _, s := range stmts {
		ops = append(ops, stmtOps(s, db)...)
	}
	return ops, nil
}

// eventSQLMode reads sql_mode from a QUERY event's status variables. The
// server writes Q_FLAGS2 (code 0, 4 bytes) and Q_SQL_MODE (code 1, 8 bytes)
// first; the other codes' lengths vary, so reading stops at them.
func eventSQLMode(vars []byte) (tmysql.SQLMode, bool) {
	for i := 0; i < len(vars); {
		switch vars[i] {
		case 0:
			i += 5
		case 1:
			if i+9 > len(vars) {
				return 0, false
			}
			return tmysql.SQLMode(binary.LittleEndian.Uint64(vars[i+1:])), true
		default:
			return 0, false
		}
	}
	return 0, false
}

func ref(t *ast.TableName, db string) tableRef {
	if t.Schema.O != "" {
		db = t.Schema.O
	}
	return tableRef{db: db, name: t.Name.O}
}

func stmtOps(s ast.StmtNode, db string) []ddlOp {
	switch n := s.(type) {
	case *ast.CreateTableStmt:
		if n.TemporaryKeyword != ast.TemporaryNone {
			return nil // never in a row-based binlog's tables
		}
		// IF NOT EXISTS may leave an older table as it is.
		op := ddlOp{kind: ddlCreate, t: ref(n.Table, db), unknown: n.IfNotExists || n.Select != nil}
		if n.ReferTable != nil {
			r := ref(n.ReferTable, db)
			op.like = &r
			return []ddlOp{op}
		}
		for _, c := range n.Cols {
			if isJSONColumn(c) {
				op.json = append(op.json, c.Name.Name.O)
			}
		}
		for _, c := range n.Constraints {
			if col, ok := constraintJSONColumn(c); ok {
				op.json = append(op.json, col)
			}
		}
		return []ddlOp{op}
	case *ast.AlterTableStmt:
		return alterOp(n, db)
	case *ast.DropTableStmt:
		if n.IsView || n.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		var ops []ddlOp
		for _, t := range n.Tables {
			ops = append(ops, ddlOp{kind: ddlDrop, t: ref(t, db)})
		}
		return ops
	case *ast.DropDatabaseStmt:
		return []ddlOp{{kind: ddlDropDB, t: tableRef{db: n.Name.O}}}
	case *ast.RenameTableStmt:
		var ops []ddlOp
		for _, tt := range n.TableToTables {
			ops = append(ops, ddlOp{kind: ddlRename, t: ref(tt.OldTable, db), to: ref(tt.NewTable, db)})
		}
		return ops
	case *ast.TruncateTableStmt:
		return []ddlOp{{kind: ddlTruncate, t: ref(n.Table, db)}}
	}
	return nil
}

// alterOp turns ALTER TABLE's specifications into column edits, and a
// RENAME TO into a rename after them.
func alterOp(n *ast.AlterTableStmt, db string) []ddlOp {
	op := ddlOp{kind: ddlAlter, t: ref(n.Table, db)}
	var rename *tableRef
	for _, sp := range n.Specs {
		if sp.IfExists || sp.IfNotExists {
			op.unknown = true // whether it changed anything depends on the table
		}
		switch sp.Tp {
		case ast.AlterTableAddColumns:
			for _, c := range sp.NewColumns {
				op.edits = append(op.edits, colEdit{add: c.Name.Name.O, json: isJSONColumn(c)})
			}
		case ast.AlterTableDropColumn:
			op.edits = append(op.edits, colEdit{drop: sp.OldColumnName.Name.O})
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			for _, c := range sp.NewColumns {
				old := c.Name.Name.O
				if sp.OldColumnName != nil {
					old = sp.OldColumnName.Name.O
				}
				op.edits = append(op.edits, colEdit{drop: old, add: c.Name.Name.O, json: isJSONColumn(c)})
			}
		case ast.AlterTableRenameColumn:
			op.edits = append(op.edits, colEdit{from: sp.OldColumnName.Name.O, add: sp.NewColumnName.Name.O})
		case ast.AlterTableAddConstraint:
			if col, ok := constraintJSONColumn(sp.Constraint); ok {
				op.edits = append(op.edits, colEdit{add: col, json: true})
			}
		case ast.AlterTableDropCheck:
			op.unknown = true // which column the check was on is not in the statement
		case ast.AlterTableRenameTable:
			r := ref(sp.NewTable, db)
			rename = &r
		}
	}
	ops := []ddlOp{op}
	if rename != nil && *rename != op.t {
		ops = append(ops, ddlOp{kind: ddlRename, t: op.t, to: *rename})
	}
	return ops
}

// isJSONColumn reports a column declared JSON, or with MariaDB's own
// rendering of it: a CHECK (json_valid(col)).
func isJSONColumn(c *ast.ColumnDef) bool {
	if c.Tp != nil && c.Tp.GetType() == tmysql.TypeJSON {
		return true
	}
	for _, o := range c.Options {
		if o.Tp == ast.ColumnOptionCheck && jsonValidOf(o.Expr) != "" {
			return true
		}
	}
	return false
}

// constraintJSONColumn returns the column of a table constraint CHECK (json_valid(col)).
func constraintJSONColumn(c *ast.Constraint) (string, bool) {
	if c == nil || c.Tp != ast.ConstraintCheck {
		return "", false
	}
	col := jsonValidOf(c.Expr)
	return col, col != ""
}

func jsonValidOf(e ast.ExprNode) string {
	f, ok := e.(*ast.FuncCallExpr)
	if !ok || f.FnName.L != "json_valid" || len(f.Args) != 1 {
		return ""
	}
	if c, ok := f.Args[0].(*ast.ColumnNameExpr); ok {
		return c.Name.Name.O
	}
	return ""
}

// ddlWord returns the statement's first keyword, upper case, past comments:
// QUERY events that start with one of ALTER, CREATE, DROP, RENAME and
// TRUNCATE are parsed.
func ddlWord(sql string) string {
	toks := tokens(sql, 1)
	if len(toks) == 0 || toks[0].quoted {
		return ""
	}
	return strings.ToUpper(toks[0].s)
}

func isDDL(q string) bool {
	switch ddlWord(q) {
	case "ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE":
		return true
	}
	return false
}

// token is one word, quoted identifier or punctuation of a statement.
type token struct {
	s      string
	quoted bool // a `quoted` identifier: never a keyword
	word   bool // a word or quoted identifier, not punctuation
}

// tokens splits SQL into at most max tokens (0: all), skipping comments and
// string literals; MariaDB's executable comments (/*! ... */, /*M! ... */)
// are read as SQL. It is what names the tables of a statement the parser
// rejects.
func tokens(sql string, max int) []token {
	var out []token
	for i := 0; i < len(sql) && (max == 0 || len(out) < max); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(sql[i:], "-- ")):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case strings.HasPrefix(sql[i:], "/*!") || strings.HasPrefix(sql[i:], "/*M!"):
			i += strings.IndexByte(sql[i:], '!') + 1
			for i < len(sql) && sql[i] >= '0' && sql[i] <= '9' {
				i++ // the version
			}
		case strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == '*' && strings.HasPrefix(sql[i:], "*/"):
			i += 2 // the end of an executable comment
		case c == '\'' || c == '"':
			i = skipQuoted(sql, i, c)
		case c == '`':
			j := i + 1
			var b strings.Builder
			for j < len(sql) {
				if sql[j] == '`' {
					if j+1 < len(sql) && sql[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(sql[j])
				j++
			}
			out = append(out, token{s: b.String(), quoted: true, word: true})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			out = append(out, token{s: sql[i:j], word: true})
			i = j
		default:
			out = append(out, token{s: sql[i : i+1]})
			i++
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// skipQuoted returns the index after the string literal starting at i.
func skipQuoted(sql string, i int, q byte) int {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(sql)
}

// maxDDLTokens bounds the scan of a statement the parser rejected: the
// table names come first.
const maxDDLTokens = 4096

// guessTargets names the tables an unparsable table DDL changes, from its
// head: ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] t, CREATE [OR REPLACE]
// [TEMPORARY] TABLE [IF NOT EXISTS] t, DROP [TEMPORARY] TABLE[S] [IF
// EXISTS] t, ..., RENAME TABLE[S] a TO b, ..., TRUNCATE [TABLE] t. table is
// false for any other statement (CREATE PROCEDURE, DROP INDEX, ...); a
// table DDL whose names cannot be read returns table true and no names:
// it may change any table.
func guessTargets(sql, db string) (refs []tableRef, table bool) {
	toks := tokens(sql, maxDDLTokens)
	kw := func(i int, words ...string) bool {
		if i >= len(toks) || toks[i].quoted {
			return false
		}
		for _, w := range words {
			if strings.EqualFold(toks[i].s, w) {
				return true
			}
		}
		return false
	}
	i := 1
	skip := func(words ...string) {
		for kw(i, words...) {
			i++
		}
	}
	// name reads [db.]table at i.
	name := func() (tableRef, bool) {
		if i >= len(toks) || !toks[i].word {
			return tableRef{}, false
		}
		r := tableRef{db: db, name: toks[i].s}
		i++
		if i+1 < len(toks) && toks[i].s == "." && toks[i+1].word {
			r = tableRef{db: r.name, name: toks[i+1].s}
			i += 2
		}
		return r, true
	}
	list := func(sep func() bool) ([]tableRef, bool) {
		for {
			r, ok := name()
			if !ok {
				return nil, true
			}
			refs = append(refs, r)
			if !sep() {
				return refs, true
			}
		}
	}
	comma := func() bool {
		if i < len(toks) && toks[i].s == "," {
			i++
			return true
		}
		return false
	}
	switch ddlWord(sql) {
	case "ALTER":
		skip("ONLINE", "OFFLINE", "IGNORE")
		if !kw(i, "TABLE") {
			return nil, false
		}
		i++
		skip("IF", "EXISTS")
		return list(func() bool { return false })
	case "CREATE":
		skip("OR", "REPLACE", "TEMPORARY")
		if !kw(i, "TABLE") {
			return nil, false
		}
		i++
		skip("IF", "NOT", "EXISTS")
		return list(func() bool { return false })
	case "DROP":
		skip("TEMPORARY")
		if !kw(i, "TABLE", "TABLES") {
			return nil, false
		}
		i++
		skip("IF", "EXISTS")
		return list(comma)
	case "RENAME":
		if !kw(i, "TABLE", "TABLES") {
			return nil, false
		}
		i++
		return list(func() bool {
			if kw(i, "WAIT") {
				i += 2
			}
			skip("NOWAIT")
			if kw(i, "TO") {
				i++
				return true
			}
			return comma()
		})
	case "TRUNCATE":
		skip("TABLE")
		return list(func() bool { return false })
	}
	return nil, false
}
