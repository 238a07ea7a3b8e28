package dsqlrules

import "testing"

func TestRefusalIsNarrowerThanTheStaticRules(t *testing.T) {
	refused := map[string]bool{
		`TRUNCATE lots`: true,
		`SAVEPOINT a`:   true,
		`CREATE TABLE a (b UUID REFERENCES c (id))`:            true,
		`SELECT * FROM lots FOR SHARE`:                         true,
		`SELECT pg_advisory_lock(1)`:                           true,
		`CREATE TEMP TABLE x (a INT)`:                          true,
		`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`:         true,
		`begin isolation level repeatable read`:                false, // what pgx's BeginTx sends
		`SELECT gen_random_uuid()`:                             false, // a house rule; DSQL has it
		`CREATE INDEX IF NOT EXISTS a ON b (c)`:                false, // the PostgreSQL dialect
		`SELECT id FROM lots WHERE id = ANY($1)`:               false, // arrays as values are fine
		`SELECT id FROM lots WHERE id = $1 FOR UPDATE`:         false,
		`CREATE TABLE a (doc JSONB)`:                           true,
		`SELECT '{"a":1}'::jsonb ->> 'a'`:                      false,
		`INSERT INTO a (price) VALUES (1.5::DOUBLE PRECISION)`: false,
	}
	for sql, want := range refused {
		ddl := len(sql) > 6 && (sql[:6] == "CREATE")
		if got := Refusal(sql, ddl) != nil; got != want {
			t.Errorf("Refusal(%q) = %v, want %v", sql, got, want)
		}
		if len(Violations(sql)) == 0 && want {
			t.Errorf("a refused statement must break a static rule too: %q", sql)
		}
	}
}
