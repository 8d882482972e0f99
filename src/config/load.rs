//! The layers of [`Settings`] as figment providers, and error messages that
//! name the setting and the layer that set it.
//!
//! figment's own `Env` provider reads only the process environment and types
//! values by their look (`"123"` becomes a number even for a secret, and
//! quotes and outer spaces are stripped). Here every `HOTLINE_…` variable is a
//! provider of its own, built from any iterator of pairs: the process
//! environment and a test's injected one take the same path, a value takes
//! the type of the setting it replaces (strings stay verbatim), and each
//! variable carries its own figment metadata, so an error can name the very
//! variable (`HOTLINE_DATABASE__URLL`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::{
    Figment, Metadata, Profile, Provider, Source,
    error::Kind,
    providers::{Format, Serialized, Toml},
    value::{Dict, Map, Value},
};

use super::{Invalid, Settings};

/// Prefix of the environment variables that are settings.
pub const ENV_PREFIX: &str = "HOTLINE_";

/// Variables in the `HOTLINE_` namespace that are not settings and so are not
/// read as such: `HOTLINE_CONFIG` selects the file (clap reads it for
/// `--config`). Every other `HOTLINE_` variable must name a setting; a typo
/// is an error rather than a silently ignored override.
pub const NOT_SETTINGS: &[&str] = &["HOTLINE_CONFIG"];

/// Separates nesting levels in a variable name: `HOTLINE_DATABASE__URL` is
/// `database.url`. A single `_` cannot, as keys contain it.
const NESTING: &str = "__";

/// The process environment as pairs. Names that are not UTF-8 cannot be
/// settings; values that are not UTF-8 are converted lossily rather than
/// panicking as `std::env::vars` would (no setting can hold them exactly).
pub(super) fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(name, value)| {
        let name = name.into_string().ok()?;
        Some((name, value.to_string_lossy().into_owned()))
    })
}

/// The layers of one load, kept after merging so errors can be traced back
/// to a file line or a variable.
pub(super) struct Layers {
    /// Built-in defaults, serialized from `Settings::default()`.
    defaults: Figment,
    file: Option<FileLayer>,
    /// Sorted by name, so a load does not depend on the environment's order.
    env: Vec<EnvVar>,
}

impl Layers {
    /// Reads the file (which must exist when given) and picks the settings
    /// out of `env`.
    pub(super) fn gather(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let defaults = Figment::from(Serialized::defaults(Settings::default()));
        // An empty path (`HOTLINE_CONFIG=`) means no file, as when unset:
        // the usual way to clear a variable in a unit or a container.
        let file = file
            .filter(|path| !path.as_os_str().is_empty())
            .map(FileLayer::read)
            .transpose()?;
        let mut env: Vec<EnvVar> = env
            .into_iter()
            .filter_map(|(name, value)| EnvVar::parse(name, &value, &defaults))
            .collect();
        env.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            defaults,
            file,
            env,
        })
    }

    /// Defaults < file < environment; figment merges tables key by key, so a
    /// layer may set one key of a table and keep the rest.
    fn figment(&self) -> Figment {
        let mut figment = self.defaults.clone();
        if let Some(file) = &self.file {
            figment = figment.merge(file);
        }
        for var in &self.env {
            figment = figment.merge(var);
        }
        figment
    }

    /// The merged, type-checked and range-checked settings.
    pub(super) fn settings(&self) -> anyhow::Result<Settings> {
        let figment = self.figment();
        let settings: Settings = figment.extract().map_err(|e| self.explain(&e))?;
        settings
            .check()
            .map_err(|e| self.explain_invalid(&figment, &e))?;
        Ok(settings)
    }

    /// An extraction error as `unknown setting `database.urll` (from
    /// environment variable HOTLINE_DATABASE__URLL)`. figment tags every
    /// value with its provider, and for an unknown key the error's path ends
    /// in that key and its metadata is the provider of the key's value.
    fn explain(&self, error: &figment::Error) -> anyhow::Error {
        let key = error.path.join(".");
        let origin = error
            .metadata
            .as_ref()
            .map(|m| self.origin(m, &error.path))
            .unwrap_or_default();
        let message = match &error.kind {
            Kind::UnknownField(_, known) => {
                let parent = match error.path.split_last() {
                    Some((_, parents)) if !parents.is_empty() => {
                        format!("`{}` has", parents.join("."))
                    }
                    _ => "the sections are".to_owned(),
                };
                format!(
                    "unknown setting `{key}`{origin}; {parent}: {}",
                    known.join(", ")
                )
            }
            // Domain parsers (e.g. `Limit`) report `{field}: {message}` with
            // an empty field; the key is named here instead.
            Kind::Message(text) => {
                format!(
                    "invalid setting `{key}`: {}{origin}",
                    text.trim_start_matches(": ")
                )
            }
            Kind::UnknownVariant(value, known) => format!(
                "invalid setting `{key}`: unknown value `{value}`, expected one of {}{origin}",
                known.join(", ")
            ),
            kind if key.is_empty() => format!("invalid settings: {kind}{origin}"),
            kind => format!("invalid setting `{key}`: {kind}{origin}"),
        };
        anyhow::anyhow!(message)
    }

    /// A range-check error with the layer of the offending key, when the key
    /// is a single value (a table merges several layers).
    fn explain_invalid(&self, figment: &Figment, invalid: &Invalid) -> anyhow::Error {
        let path: Vec<String> = invalid.key.split('.').map(str::to_owned).collect();
        let origin = match figment.find_value(&invalid.key) {
            Ok(Value::Dict(..)) | Err(_) => String::new(),
            Ok(value) => figment
                .get_metadata(value.tag())
                .map(|m| self.origin(m, &path))
                .unwrap_or_default(),
        };
        anyhow::anyhow!(
            "invalid setting `{}`: {}{origin}",
            invalid.key,
            invalid.message
        )
    }

    /// ` (from file deploy/x.toml, line 12)`, ` (from environment variable
    /// HOTLINE_X__Y)`, or nothing for a built-in default (a default is never
    /// the mistake, and a range check naming one would only mislead).
    fn origin(&self, metadata: &Metadata, path: &[String]) -> String {
        match &metadata.source {
            Some(Source::File(file)) => {
                let line = self.file.as_ref().and_then(|f| line_of(&f.text, path));
                match line {
                    Some(line) => format!(" (from file {}, line {line})", file.display()),
                    None => format!(" (from file {})", file.display()),
                }
            }
            Some(Source::Custom(name)) => format!(" (from environment variable {name})"),
            _ => String::new(),
        }
    }
}

/// The TOML file layer. Read once: the text serves both figment and the
/// line numbers of error messages. The path is used exactly as given
/// (figment's `Toml::file` would search parent directories).
struct FileLayer {
    path: PathBuf,
    text: String,
    data: Map<Profile, Dict>,
}

impl FileLayer {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let data = Toml::string(&text)
            .data()
            .map_err(|e| anyhow::anyhow!("parsing config file {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            text,
            data,
        })
    }
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML file", self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(self.data.clone())
    }
}

/// One `HOTLINE_…` variable as a layer of its own.
struct EnvVar {
    /// The variable's name, for error messages.
    name: String,
    /// Lowercased key path: `HOTLINE_DATABASE__URL` → `["database", "url"]`.
    path: Vec<String>,
    value: Value,
}

impl EnvVar {
    /// `None` for variables outside the namespace or in [`NOT_SETTINGS`].
    fn parse(name: String, raw: &str, defaults: &Figment) -> Option<Self> {
        let rest = name.strip_prefix(ENV_PREFIX)?;
        if NOT_SETTINGS.contains(&name.as_str()) {
            return None;
        }
        let path: Vec<String> = rest.split(NESTING).map(str::to_lowercase).collect();
        let default = defaults.find_value(&path.join(".")).ok();
        let value = typed(raw, default.as_ref());
        Some(Self { name, path, value })
    }
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::from("environment variable", Source::Custom(self.name.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let Some((leaf, parents)) = self.path.split_last() else {
            return Ok(Map::new());
        };
        let mut dict = Dict::from([(leaf.clone(), self.value.clone())]);
        for parent in parents.iter().rev() {
            dict = Dict::from([(parent.clone(), Value::from(dict))]);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// A variable's text as the type of the default it replaces: a boolean or a
/// number when the setting is one and the text parses, otherwise the text
/// verbatim (then a boolean or numeric setting reports a type error naming
/// the variable). Strings are never reinterpreted, so a secret `0123` or
/// `"quoted"` arrives as written.
fn typed(raw: &str, default: Option<&Value>) -> Value {
    let text = raw.trim();
    let parsed = match default {
        Some(Value::Bool(..)) => text.parse::<bool>().ok().map(Value::from),
        Some(Value::Num(..)) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::from(raw.to_owned()))
}

/// The 1-based line of `path`'s last key in the TOML `text`, found by
/// re-parsing with spans (only when an error is reported).
fn line_of(text: &str, path: &[String]) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut start = None;
    for (i, key) in path.iter().enumerate() {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        start = Some(k.span().start);
        if i + 1 < path.len() {
            match v.get_ref() {
                toml::de::DeValue::Table(inner) => table = inner,
                _ => return None,
            }
        }
    }
    Some(text.get(..start?)?.matches('\n').count() + 1)
}
