//! Reading the web UI's responses in tests and benchmarks: cookies to send back and hidden form fields.

/// The `name=value` part of a `Set-Cookie` header value (what a browser sends back in `Cookie`).
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The value of the first hidden (or any) input `name` in a page, as the server wrote it.
pub fn input_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_cookies_and_fields() {
        assert_eq!(super::cookie_pair("a=b; Path=/ui; HttpOnly"), "a=b");
        let page = r#"<input type="hidden" name="_csrf" value="abc123"><input name="x" value="">"#;
        assert_eq!(super::input_value(page, "_csrf").as_deref(), Some("abc123"));
        assert_eq!(super::input_value(page, "x").as_deref(), Some(""));
        assert_eq!(super::input_value(page, "y"), None);
    }
}
