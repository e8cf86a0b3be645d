//! Which strategy the enabled cargo features choose: the facade's one rule, written once.
//!
//! `build.rs` compiles this file as a module, hands [`select`] the features cargo
//! enabled, and turns the answer into `--cfg mm_strategy="<name>"` (or a build error);
//! `mm`'s unit tests compile it too, so the rule is tested without running cargo.
//!
//! The rule:
//!
//! * exactly one strategy feature on: that strategy (`default-strategy`, on by default,
//!   gives way to it, so `--features buddy` is buddy);
//! * none on: [`DEFAULT`] if `default-strategy` is on, else an error
//!   ([`SelectError::NoStrategy`], as `--no-default-features` alone gets);
//! * every strategy feature on, which is what `--all-features` does: [`DEFAULT`] too
//!   ([`Choice::Every`]), so that workspace-wide `--all-features` builds (clippy,
//!   rust-analyzer, docs) work; `build.rs` says so in a warning;
//! * any other two or more: an error ([`SelectError::Several`]), a likely mistake;
//! * a feature that is neither a strategy of `src/strategies.rs` nor one of
//!   [`OTHER_FEATURES`]: an error ([`SelectError::Unlisted`]), which catches a strategy
//!   given a cargo feature but not its line in `src/strategies.rs`.

use std::fmt;

/// The strategy `default-strategy` stands for (its feature enables this crate's
/// dependency on it).
pub const DEFAULT: &str = "segregated";

/// The feature that chooses [`DEFAULT`] when no strategy is named.
pub const DEFAULT_FEATURE: &str = "default-strategy";

/// `mm`'s features that are not strategies.
pub const OTHER_FEATURES: &[&str] = &["default", DEFAULT_FEATURE, "hardened"];

/// How cargo names `feature` to a build script: `CARGO_FEATURE_<this>` is set when it
/// is on (upper case, `-` as `_`).
pub fn env_name(feature: &str) -> String {
    feature.to_uppercase().replace('-', "_")
}

/// What the enabled features choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Exactly one strategy feature is on.
    Named(&'static str),
    /// No strategy feature is on, and `default-strategy` is: [`DEFAULT`].
    Default,
    /// Every strategy feature is on, as with `--all-features`: [`DEFAULT`].
    Every,
}

impl Choice {
    /// The strategy chosen.
    pub fn strategy(self) -> &'static str {
        match self {
            Choice::Named(name) => name,
            Choice::Default | Choice::Every => DEFAULT,
        }
    }
}

/// Why the enabled features choose no strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    /// No strategy feature, and no `default-strategy`.
    NoStrategy {
        /// The strategy features there are.
        offered: Vec<&'static str>,
    },
    /// Two or more strategy features, but not all of them.
    Several {
        /// The strategy features that are on.
        named: Vec<&'static str>,
        /// The strategy features there are.
        offered: Vec<&'static str>,
    },
    /// A feature this rule does not know, as cargo spells it to build scripts.
    Unlisted {
        /// Its name, in lower case with `-` as `_`.
        feature: String,
    },
}

/// `a`, `b`, `c` (each in backquotes).
fn quoted(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::NoStrategy { offered } => write!(
                f,
                "choose a strategy: enable exactly one of the features {} (or `{DEFAULT_FEATURE}`, \
                 which is `{DEFAULT}`)",
                quoted(offered)
            ),
            SelectError::Several { named, offered } => write!(
                f,
                "more than one strategy feature is enabled ({}); enable exactly one of {}",
                quoted(named),
                quoted(offered)
            ),
            SelectError::Unlisted { feature } => write!(
                f,
                "the feature `{feature}` is neither a strategy of crates/mm/src/strategies.rs nor \
                 one of {}: give a new strategy its line in src/strategies.rs (see the crate docs)",
                quoted(OTHER_FEATURES)
            ),
        }
    }
}

/// The strategy chosen, among `strategies`, by the features `enabled` (spelled as
/// cargo names them to build scripts: see [`env_name`]).
pub fn select(strategies: &[&'static str], enabled: &[String]) -> Result<Choice, SelectError> {
    let known =
        |feature: &str| strategies.iter().chain(OTHER_FEATURES).any(|&name| env_name(name) == feature);
    if let Some(feature) = enabled.iter().find(|feature| !known(feature)) {
        return Err(SelectError::Unlisted { feature: feature.to_lowercase() });
    }
    let on = |feature: &str| enabled.iter().any(|name| *name == env_name(feature));
    let named: Vec<&'static str> = strategies.iter().copied().filter(|&name| on(name)).collect();
    match named.as_slice() {
        [] if on(DEFAULT_FEATURE) => Ok(Choice::Default),
        [] => Err(SelectError::NoStrategy { offered: strategies.to_vec() }),
        [one] => Ok(Choice::Named(one)),
        _ if named.len() == strategies.len() => Ok(Choice::Every),
        _ => Err(SelectError::Several { named, offered: strategies.to_vec() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUR: &[&str] = &["implicit", "explicit", "segregated", "buddy"];

    /// `select` over [`FOUR`] with `features` on, given by their names.
    fn choose(features: &[&str]) -> Result<Choice, SelectError> {
        select(FOUR, &features.iter().map(|f| env_name(f)).collect::<Vec<_>>())
    }

    #[test]
    fn one_strategy_named_is_chosen_with_or_without_the_default() {
        for &name in FOUR {
            assert_eq!(choose(&[name]), Ok(Choice::Named(name)));
            assert_eq!(choose(&["default", DEFAULT_FEATURE, name, "hardened"]), Ok(Choice::Named(name)));
        }
    }

    #[test]
    fn no_strategy_named_is_the_default_if_default_strategy_is_on_else_an_error() {
        assert_eq!(choose(&["default", DEFAULT_FEATURE]), Ok(Choice::Default));
        assert_eq!(choose(&[DEFAULT_FEATURE, "hardened"]).map(Choice::strategy), Ok(DEFAULT));
        assert_eq!(choose(&[]), Err(SelectError::NoStrategy { offered: FOUR.to_vec() }));
        assert_eq!(choose(&["hardened"]), Err(SelectError::NoStrategy { offered: FOUR.to_vec() }));
    }

    #[test]
    fn two_strategies_are_an_error_but_all_of_them_are_the_default() {
        assert_eq!(
            choose(&["buddy", "implicit"]),
            Err(SelectError::Several { named: vec!["implicit", "buddy"], offered: FOUR.to_vec() })
        );
        assert!(matches!(
            choose(&["default", "implicit", "explicit", "segregated"]),
            Err(SelectError::Several { .. })
        ));
        // What --all-features enables:
        let all: Vec<&str> = FOUR.iter().chain(OTHER_FEATURES).copied().collect();
        assert_eq!(choose(&all), Ok(Choice::Every));
        assert_eq!(Choice::Every.strategy(), DEFAULT);
        assert_eq!(choose(FOUR), Ok(Choice::Every));
    }

    #[test]
    fn a_feature_missing_from_the_list_is_an_error_that_names_it() {
        assert_eq!(choose(&["kr"]), Err(SelectError::Unlisted { feature: "kr".into() }));
        assert_eq!(
            choose(&["default", DEFAULT_FEATURE, "explicit-textbook"]),
            Err(SelectError::Unlisted { feature: "explicit_textbook".into() })
        );
    }

    #[test]
    fn the_messages_name_the_choices() {
        let none = choose(&[]).unwrap_err().to_string();
        assert_eq!(
            none,
            "choose a strategy: enable exactly one of the features `implicit`, `explicit`, \
             `segregated`, `buddy` (or `default-strategy`, which is `segregated`)"
        );
        let two = choose(&["buddy", "implicit"]).unwrap_err().to_string();
        assert!(two.starts_with("more than one strategy feature is enabled (`implicit`, `buddy`);"), "{two}");
    }

    #[test]
    fn cargo_spells_features_in_upper_case_with_underscores() {
        assert_eq!(env_name("default-strategy"), "DEFAULT_STRATEGY");
        assert_eq!(env_name("kr"), "KR");
    }
}
