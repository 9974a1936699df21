//! `[[models]]`: catalog additions and overrides. Whether a model's provider exists is
//! checked when the gateway starts, where the catalog is known.

use switchyard_catalog::ModelOverride;
use toml::Spanned;

use super::check::Source;
use crate::error::ConfigError;

/// Every `[[models]]` entry, read as a catalog override, and the line of each.
pub(super) fn validate(
    src: Source<'_>,
    raw: Vec<Spanned<toml::Table>>,
) -> Result<(Vec<ModelOverride>, Vec<usize>), ConfigError> {
    let mut models = Vec::with_capacity(raw.len());
    let mut lines = Vec::with_capacity(raw.len());
    for m in raw {
        let span = m.span();
        lines.push(src.line(span.start));
        let o: ModelOverride =
            toml::Value::Table(m.into_inner())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    src.error(
                        span,
                        format!("[[models]] entry: {}", e.message().trim()),
                        "see docs/CONFIG.md, section [[models]], for the fields",
                    )
                })?;
        models.push(o);
    }
    Ok((models, lines))
}

#[cfg(test)]
mod tests {
    use crate::config::testing::error_of;

    #[test]
    fn model_entry_errors_point_at_the_entry() {
        let err = error_of("[[models]]\nid = \"m\"\ncontext_window = \"big\"\n");
        assert!(err.contains("line 1") || err.contains("line 2"), "{err}");
    }
}
