//! Small helpers for building SQL shared by both backends.

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `cols` parameters, starting after `offset` parameters.
pub fn values_placeholders(rows: usize, cols: usize, offset: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(offset + r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// A value bound to a [`Where`] parameter.
pub enum Bind {
    I(i64),
    S(String),
}

/// A WHERE clause built from optional filters, with its parameters in order.
#[derive(Default)]
pub struct Where {
    pub clauses: Vec<String>,
    pub binds: Vec<Bind>,
}

impl Where {
    /// Adds a parameter; returns its placeholder.
    pub fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// `col IN (…)` for a comma-separated list of values (nothing if the list is empty).
    pub fn any_of(&mut self, col: &str, values: &str) {
        let vals: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if vals.is_empty() {
            return;
        }
        let ps: Vec<String> = vals.into_iter().map(|v| self.param(Bind::S(v))).collect();
        self.clauses.push(format!("{col} IN ({})", ps.join(", ")));
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub fn bind<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for b in &self.binds {
            q = match b {
                Bind::I(i) => q.bind(*i),
                Bind::S(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

/// Escapes `\`, `%` and `_` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_placeholders() {
        assert_eq!(super::values_placeholders(2, 2, 0), "($1, $2), ($3, $4)");
        assert_eq!(super::values_placeholders(1, 3, 2), "($3, $4, $5)");
    }
}
