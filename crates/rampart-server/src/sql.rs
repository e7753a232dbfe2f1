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

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_placeholders() {
        assert_eq!(super::values_placeholders(2, 2, 0), "($1, $2), ($3, $4)");
        assert_eq!(super::values_placeholders(1, 3, 2), "($3, $4, $5)");
    }
}
