//! What customers read, in their language: message catalogues in Project
//! Fluent's format (`server/locales/<language>.ftl`, compiled into the
//! binary), dates and amounts written the way each language writes them.
//!
//! A customer record names its [`Language`] (`customers.language`); the
//! feedback form, its pages and its emails are rendered in it. A message
//! missing from a catalogue falls back to English (and is logged): the
//! tests below check that no catalogue misses one.
//!
//! ```
//! use fieldsync_server::i18n::Language;
//! let pt = Language::Pt;
//! assert_eq!(pt.text("answer-yes"), "Sim");
//! assert_eq!(pt.text_with("email-greeting-name", &[("name", "Ana")]), "Olá Ana,");
//! assert_eq!(pt.date_str("2026-03-01"), "1 de março de 2026");
//! assert_eq!(pt.money(123_456, "EUR"), "1234,56\u{a0}€");
//! ```

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use time::Date;

use crate::str_enum::str_enum;

str_enum!(
    /// A language customers can be written to in (a catalogue exists for
    /// each). The API takes and shows the code.
    Language { En = "en", Pt = "pt" }
);

crate::sql_text!(Language);

impl Language {
    /// Every supported language, English (the fallback) first.
    pub const ALL: [Language; 2] = [Language::En, Language::Pt];

    /// The catalogue's source text.
    fn source(self) -> &'static str {
        match self {
            Language::En => include_str!("../locales/en.ftl"),
            Language::Pt => include_str!("../locales/pt.ftl"),
        }
    }

    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        static BUNDLES: LazyLock<Vec<FluentBundle<FluentResource>>> =
            LazyLock::new(|| Language::ALL.iter().map(|l| build(*l)).collect());
        let i = Language::ALL
            .iter()
            .position(|l| *l == self)
            .unwrap_or_default();
        &BUNDLES[i]
    }

    /// The message `id`, without arguments.
    pub fn text(self, id: &str) -> String {
        self.text_with(id, &[])
    }

    /// The message `id` with its `{ $name }` placeholders filled in. Values
    /// are plain text: HTML escaping is the template's job (maud's).
    pub fn text_with(self, id: &str, args: &[(&str, &str)]) -> String {
        format(self.bundle(), Language::En.bundle(), id, args)
    }

    /// A day as the language writes it in a sentence: "1 January 1990",
    /// "1 de janeiro de 1990".
    pub fn date(self, date: Date) -> String {
        let month = self.text(&format!("month-{}", u8::from(date.month())));
        self.text_with(
            "date-long",
            &[
                ("day", &date.day().to_string()),
                ("month", &month),
                ("year", &date.year().to_string()),
            ],
        )
    }

    /// [`Self::date`] of a `YYYY-MM-DD` text; anything else is shown as it is.
    pub fn date_str(self, ymd: &str) -> String {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match Date::parse(ymd, format) {
            Ok(d) => self.date(d),
            Err(_) => ymd.to_owned(),
        }
    }

    /// An amount in minor units (two decimals) with its ISO currency code,
    /// as the language writes money: "€1,234.56" / "1234,56 €"; codes
    /// without a well-known sign are written out ("CHF 12.00").
    pub fn money(self, minor: i64, currency: &str) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let (units, cents) = (abs / 100, abs % 100);
        let symbol = match currency {
            "EUR" => Some("€"),
            "GBP" => Some("£"),
            "USD" => Some("US$"),
            _ => None,
        };
        match self {
            Language::En => {
                let units = group(units, ',');
                match symbol {
                    Some(s) => format!("{sign}{s}{units}.{cents:02}"),
                    None => format!("{sign}{currency} {units}.{cents:02}"),
                }
            }
            // Portuguese groups with a space only from five digits on.
            Language::Pt => {
                let units = if units >= 10_000 {
                    group(units, '\u{a0}')
                } else {
                    units.to_string()
                };
                format!(
                    "{sign}{units},{cents:02}\u{a0}{}",
                    symbol.unwrap_or(currency)
                )
            }
        }
    }
}

/// `1234567` as `1,234,567` with `sep`.
fn group(n: u64, sep: char) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// `id` from `primary`, else from `fallback` (logged), else the id itself.
fn format(
    primary: &FluentBundle<FluentResource>,
    fallback: &FluentBundle<FluentResource>,
    id: &str,
    args: &[(&str, &str)],
) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, *value);
    }
    for (i, bundle) in [primary, fallback].into_iter().enumerate() {
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            if i > 0 {
                tracing::warn!(locales = ?primary.locales, id, "message missing: English used");
            }
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
            if !errors.is_empty() {
                tracing::warn!(id, ?errors, "message formatted with errors");
            }
            return text.into_owned();
        }
    }
    tracing::error!(id, "message missing from every catalogue");
    id.to_owned()
}

fn build(language: Language) -> FluentBundle<FluentResource> {
    let id = language
        .as_str()
        .parse()
        .expect("a language code is a language identifier");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the texts go into
    // subjects, plain-text mail and SMS, where they would show as junk.
    bundle.set_use_isolating(false);
    let resource = FluentResource::try_new(language.source().to_owned())
        .unwrap_or_else(|(_, errors)| panic!("locales/{language}.ftl does not parse: {errors:?}"));
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("locales/{language}.ftl has duplicates: {errors:?}"));
    bundle
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use fluent_syntax::ast;

    use super::*;

    /// The message ids of a catalogue, and the variables each uses.
    fn messages(language: Language) -> BTreeSet<(String, BTreeSet<String>)> {
        let resource = FluentResource::try_new(language.source().to_owned()).unwrap();
        resource
            .entries()
            .filter_map(|e| match e {
                ast::Entry::Message(m) => Some(m),
                _ => None,
            })
            .map(|m| {
                let vars = m
                    .value
                    .iter()
                    .flat_map(|p| &p.elements)
                    .filter_map(|el| match el {
                        ast::PatternElement::Placeable {
                            expression:
                                ast::Expression::Inline(ast::InlineExpression::VariableReference {
                                    id,
                                }),
                        } => Some(id.name.to_owned()),
                        _ => None,
                    })
                    .collect();
                (m.id.name.to_owned(), vars)
            })
            .collect()
    }

    #[test]
    fn every_catalogue_has_every_message_with_the_same_variables() {
        let english = messages(Language::En);
        assert!(english.len() > 50, "{english:?}");
        for language in Language::ALL {
            // Parses and has no duplicates (build panics otherwise).
            build(language);
            let other = messages(language);
            let missing: Vec<_> = english.difference(&other).collect();
            let extra: Vec<_> = other.difference(&english).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{language}: missing or different {missing:?}, not in English {extra:?}"
            );
        }
    }

    #[test]
    fn the_messages_the_code_asks_for_exist_in_every_catalogue() {
        let mut ids: Vec<String> = crate::feedback::pages::MESSAGE_IDS
            .iter()
            .map(|s| s.to_string())
            .collect();
        for q in crate::feedback::questions::QUESTIONS {
            ids.extend(crate::feedback::pages::question_message_ids(q));
        }
        ids.extend((1..=12).map(|m| format!("month-{m}")));
        ids.extend(
            crate::invoices::pages::MESSAGE_IDS
                .iter()
                .map(|s| s.to_string()),
        );
        for language in Language::ALL {
            for id in &ids {
                assert!(
                    language.bundle().get_message(id).is_some(),
                    "{language} lacks {id}"
                );
            }
        }
    }

    #[test]
    fn a_missing_message_falls_back_to_english_then_to_its_id() {
        // Only English has it: a catalogue built without it answers in English.
        assert_eq!(Language::Pt.text("answer-yes"), "Sim");
        let mut pt_without = FluentBundle::new_concurrent(vec!["pt".parse().unwrap()]);
        pt_without
            .add_resource(FluentResource::try_new("answer-no = Não\n".into()).unwrap())
            .unwrap();
        pt_without.set_use_isolating(false);
        let en = Language::En.bundle();
        assert_eq!(format(&pt_without, en, "answer-no", &[]), "Não");
        assert_eq!(format(&pt_without, en, "answer-yes", &[]), "Yes");
        let greeting = format(&pt_without, en, "email-greeting-name", &[("name", "Ana")]);
        assert_eq!(greeting, "Hello Ana,");
        assert_eq!(Language::Pt.text("no-such-message"), "no-such-message");
    }

    #[test]
    fn dates_and_money_are_written_per_language() {
        assert_eq!(Language::En.date_str("1990-01-01"), "1 January 1990");
        assert_eq!(Language::Pt.date_str("2026-03-07"), "7 de março de 2026");
        assert_eq!(Language::Pt.date_str("not a date"), "not a date");
        assert_eq!(Language::En.money(123_456_789, "EUR"), "€1,234,567.89");
        assert_eq!(Language::En.money(-5, "CHF"), "-CHF 0.05");
        assert_eq!(Language::Pt.money(123_456, "EUR"), "1234,56\u{a0}€");
        assert_eq!(
            Language::Pt.money(1_234_500, "EUR"),
            "12\u{a0}345,00\u{a0}€"
        );
    }

    #[test]
    fn languages_parse_from_their_codes_only() {
        assert_eq!("pt".parse::<Language>(), Ok(Language::Pt));
        assert!("PT".parse::<Language>().is_err());
        assert!("fr".parse::<Language>().is_err());
        assert_eq!(Language::ALL[0], Language::En, "the fallback comes first");
    }
}
