//! Credentials out of messages: every form a PostgreSQL or Redis connection string can
//! carry a secret in, replaced by `***` before it is printed, logged or put in an error.

/// `s` with every password hidden:
/// - the password of a URL's user part: `postgres://u:secret@h/db`, `redis://:secret@h`,
///   `rediss://user:secret@h` → `…://u:***@h…`;
/// - any parameter whose name contains `password` in a URL's query
///   (`?password=secret`, `&sslpassword=…`);
/// - the same in a `key=value` DSN (`host=db password=secret`, also quoted:
///   `password='a b\' c'`).
///
/// Anything that is not a password (user, host, database, other parameters) is kept, so
/// the message still says where.
pub fn redact(s: &str) -> String {
    match s.find("://") {
        Some(scheme_end) => redact_url(s, scheme_end + 3),
        None => redact_key_values(s),
    }
}

fn is_secret_key(key: &str) -> bool {
    key.trim().to_ascii_lowercase().contains("password")
}

fn redact_url(s: &str, authority: usize) -> String {
    let query = s[authority..].find('?').map(|q| authority + q);
    let before_query = &s[..query.unwrap_or(s.len())];
    let mut out = String::with_capacity(s.len());
    match before_query[authority..].rfind('@').map(|a| authority + a) {
        Some(at) => {
            let userinfo = &s[authority..at];
            out.push_str(&s[..authority]);
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&before_query[at..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(q) = query {
        out.push('?');
        let params: Vec<String> = s[q + 1..]
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if is_secret_key(k) => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `key=value` pairs separated by spaces; values may be single-quoted with `\` escapes.
fn redact_key_values(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        // Copy spaces and the key up to '='.
        let Some(eq) = rest.find('=') else {
            out.push_str(rest);
            break;
        };
        let key = &rest[..eq];
        // A key is the last word before '=' (spaces around '=' are allowed).
        let key_word = key
            .trim_end()
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("");
        out.push_str(key);
        out.push('=');
        rest = &rest[eq + 1..];
        let leading = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..leading]);
        rest = &rest[leading..];
        let value_len = value_len(rest);
        if is_secret_key(key_word) {
            out.push_str("***");
        } else {
            out.push_str(&rest[..value_len]);
        }
        rest = &rest[value_len..];
    }
    out
}

/// Length of the value at the start of `s`: a quoted string (with `\` escapes) or a run
/// up to the next whitespace.
fn value_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    if s.starts_with('\'') {
        chars.next();
        let mut escaped = false;
        for (i, c) in chars {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => return i + 1,
                _ => {}
            }
        }
        return s.len();
    }
    s.find(char::is_whitespace).unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn url_passwords_are_hidden_users_and_hosts_kept() {
        for (url, want) in [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
            ("postgres://u:a@b@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h/db", "postgres://h/db"),
            (
                "redis://:secret@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "rediss://user:secret@cache:6380",
                "rediss://user:***@cache:6380",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ] {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn password_parameters_of_urls_are_hidden() {
        assert_eq!(
            redact("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact("postgres://u:x@h/db?password=secret&application_name=a"),
            "postgres://u:***@h/db?password=***&application_name=a"
        );
        assert_eq!(
            redact("rediss://h:6380/?PASSWORD=s&sslpassword=t"),
            "rediss://h:6380/?PASSWORD=***&sslpassword=***"
        );
        assert_eq!(
            redact("postgres://u@h/db?x=@&password=s"),
            "postgres://u@h/db?x=@&password=***"
        );
    }

    #[test]
    fn key_value_dsns_lose_their_passwords_quoted_or_not() {
        for (dsn, want) in [
            (
                "host=db user=u password=secret dbname=x",
                "host=db user=u password=*** dbname=x",
            ),
            ("password=secret", "password=***"),
            (
                "host=db password = 'se cr\\'et' sslmode=require",
                "host=db password = *** sslmode=require",
            ),
            ("host=db  sslpassword=k", "host=db  sslpassword=***"),
            ("host=h user=u", "host=h user=u"),
            ("no pairs at all", "no pairs at all"),
            ("password='never closed", "password=***"),
        ] {
            assert_eq!(redact(dsn), want, "{dsn}");
            assert!(!redact(dsn).contains("secret"));
        }
    }
}
