//! `purser keys new --workflow W`: generates a virtual key and prints it with the hash that goes
//! into the config. The key is shown once; only the hash is stored anywhere.

use std::io::{self, Write};

use rand::RngCore;

use super::auth::hash_key;

/// Random bytes per key (192 bits).
const KEY_BYTES: usize = 24;

/// Arguments of `purser keys new`.
#[derive(Debug, Clone, clap::Args)]
pub struct NewKeyArgs {
    /// Workflow the key is bound to.
    #[arg(long)]
    pub workflow: String,
}

/// Generates a `pk-` key from `rng` (pass `rand::rng()` in the binary, a seeded RNG in tests)
/// and writes the key, its `sha256:` hash and a config snippet to `out`.
///
/// # Errors
/// Write errors from `out`.
pub fn run_new_key(
    args: &NewKeyArgs,
    rng: &mut dyn RngCore,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut bytes = [0u8; KEY_BYTES];
    rng.fill_bytes(&mut bytes);
    let key = format!("pk-{}", hex::encode(bytes));
    let hash = format!("sha256:{}", hex::encode(hash_key(&key)));
    let name = toml_string(&args.workflow);
    writeln!(out, "key:  {key}")?;
    writeln!(out, "hash: {hash}")?;
    writeln!(
        out,
        "# Give the key to the client (shown once). Add the hash to the config:"
    )?;
    writeln!(out, "[[budget.workflows]]")?;
    writeln!(out, "name = {name}")?;
    writeln!(out, "keys = [\"{hash}\"]")?;
    Ok(())
}

/// A TOML basic string for `s`.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::budget::KeyRing;
    use crate::budget::settings::Settings;

    #[test]
    fn printed_snippet_configures_a_key_that_authenticates() {
        let mut out = Vec::new();
        let args = NewKeyArgs {
            workflow: "support \"bot\"".into(),
        };
        run_new_key(&args, &mut StdRng::seed_from_u64(7), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let key = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("key:")
            .trim()
            .to_owned();
        assert!(key.starts_with("pk-") && key.len() == 3 + 2 * KEY_BYTES);
        let snippet: String = text
            .lines()
            .skip_while(|l| !l.starts_with("[["))
            .collect::<Vec<_>>()
            .join("\n");
        #[derive(serde::Deserialize)]
        struct Root {
            budget: Settings,
        }
        let root: Root = toml::from_str(&format!("[budget]\n{snippet}")).unwrap();
        let ring = KeyRing::new(&root.budget.validate("budget").unwrap(), None);
        let id = ring
            .authenticate(Some(&format!("Bearer {key}")), None)
            .unwrap();
        assert_eq!(id.workflow.as_str(), "support \"bot\"");
        // Different seeds give different keys.
        let mut other = Vec::new();
        run_new_key(&args, &mut StdRng::seed_from_u64(8), &mut other).unwrap();
        assert!(!String::from_utf8(other).unwrap().contains(&key));
    }
}
