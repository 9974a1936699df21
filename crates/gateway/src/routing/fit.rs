//! Whether a model can take a request at all: every capability the request uses
//! (images, audio, tools, JSON mode, structured output) must be one the model has.

use switchyard_catalog::{Capability, Catalog, Model};
use switchyard_wire::{ChatRequest, ResponseFormatKind};

use crate::error::GatewayError;

/// The first capability `req` needs that `model` lacks, as the 400 to answer (naming a
/// few models that have it).
pub(crate) fn check_capabilities(
    catalog: &Catalog,
    model: &Model,
    req: &ChatRequest,
) -> Result<(), GatewayError> {
    let json = req.json_output();
    let need = [
        (req.has_images(), Capability::Vision, "image input"),
        (req.has_audio(), Capability::Audio, "audio input"),
        (req.has_tools(), Capability::Tools, "tool calls"),
        (
            json == Some(ResponseFormatKind::JsonObject),
            Capability::JsonMode,
            "JSON mode (response_format json_object)",
        ),
        (
            json == Some(ResponseFormatKind::JsonSchema),
            Capability::JsonSchema,
            "structured output (response_format json_schema)",
        ),
    ];
    for (needed, cap, what) in need {
        if needed && !model.supports(cap) {
            let able: Vec<&str> = catalog
                .models()
                .iter()
                .filter(|m| m.supports(cap) && !m.is_embedding())
                .map(|m| m.id.as_str())
                .take(6)
                .collect();
            return Err(GatewayError::UnsupportedCapability {
                model: model.id.clone(),
                capability: what,
                hint: format!("models that do: {}", able.join(", ")),
            });
        }
    }
    Ok(())
}
