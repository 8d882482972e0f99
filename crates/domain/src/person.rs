//! Caller identity: personal information under DOMAIN.md §7.
//!
//! The types here never print their contents through `Debug`, so a stray
//! `tracing::debug!(?ticket)` cannot leak a name or a phone number into logs.

use std::fmt;

use super::error::DomainError;

/// A normalised mainland phone number: an 11-digit mobile (`1[3-9]…`) or a
/// landline with its area code (`0` + 2–3 digits + 7–8 digits), digits only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a phone number as agents type it: spaces, dashes and a `+86`/`0086`
    /// prefix are accepted and removed.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let mut digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        for prefix in ["+86", "0086"] {
            if let Some(rest) = digits.strip_prefix(prefix) {
                digits = rest.to_owned();
            }
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid(
                "",
                "phone number may contain only digits, spaces, '-' and a +86 prefix",
            ));
        }
        let bytes = digits.as_bytes();
        let mobile = bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
        let landline = (10..=12).contains(&bytes.len()) && bytes[0] == b'0' && bytes[1] != b'0';
        if mobile || landline {
            Ok(Self(digits))
        } else {
            Err(DomainError::invalid(
                "",
                "not a mainland phone number (11-digit mobile or landline with area code)",
            ))
        }
    }

    /// The full number. Callers of this method are handling PII.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden: the first 3 and the last 4 digits
    /// stay, as in `138****1234`.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let hidden = n.saturating_sub(7);
        format!("{}{}{}", &self.0[..3], "*".repeat(hidden), &self.0[n - 4..])
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// A caller's name as given. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Validates a name: 1–64 characters after trimming, none of them a
    /// control character (a NUL cannot be stored in PostgreSQL text, and
    /// a line break or escape in a name is an input error, not a name).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let trimmed = raw.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "",
                "must not contain control characters",
            ));
        }
        match trimmed.chars().count() {
            0 => Err(DomainError::invalid("", "must not be empty")),
            1..=64 => Ok(Self(trimmed.to_owned())),
            _ => Err(DomainError::invalid("", "at most 64 characters")),
        }
    }

    /// The full name. Callers of this method are handling PII.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// First character followed by one `*` per remaining character (`张**`).
    pub fn masked(&self) -> String {
        let mut chars = self.0.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        format!("{first}{}", "*".repeat(chars.count()))
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

/// Who called. An anonymous caller may give neither name nor phone; any other
/// caller must leave a phone number so the centre can call back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Name, if given.
    pub name: Option<PersonName>,
    /// Phone, if given.
    pub phone: Option<PhoneNumber>,
    /// The caller declined to give a name.
    pub anonymous: bool,
}

impl Caller {
    /// Validates the caller part of an intake; field paths are relative (`phone`).
    pub fn parse(name: &str, phone: &str, anonymous: bool) -> Result<Self, DomainError> {
        let name = if name.trim().is_empty() {
            None
        } else {
            Some(PersonName::parse(name).map_err(|e| e.within("name"))?)
        };
        let phone = if phone.trim().is_empty() {
            None
        } else {
            Some(PhoneNumber::parse(phone).map_err(|e| e.within("phone"))?)
        };
        if phone.is_none() && !anonymous {
            return Err(DomainError::invalid(
                "phone",
                "required unless the caller is anonymous",
            ));
        }
        Ok(Self {
            name: if anonymous { None } else { name },
            phone,
            anonymous,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_and_masks_mobiles_and_landlines() {
        let mobile = PhoneNumber::parse("+86 138-0013-1234").unwrap();
        assert_eq!(mobile.expose(), "13800131234");
        assert_eq!(mobile.masked(), "138****1234");
        let landline = PhoneNumber::parse("0571-87654321").unwrap();
        assert_eq!(landline.masked(), "057*****4321");
        for bad in [
            "",
            "12345",
            "12800131234",
            "1380013123",
            "abc13800131234",
            "00571876543",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_with_a_control_character_is_refused_naming_the_field() {
        for name in ["张\0三", "张\n三", "\u{1b}[31m张三"] {
            let err = Caller::parse(name, "13800131234", false).unwrap_err();
            assert!(
                matches!(&err, DomainError::InvalidField { field, .. } if field == "name"),
                "{name:?}: {err:?}"
            );
        }
        assert!(Caller::parse(" 张三 ", "13800131234", false).is_ok());
    }

    #[test]
    fn debug_never_prints_pii() {
        let caller = Caller::parse("张三", "13800131234", false).unwrap();
        let printed = format!("{caller:?}");
        assert!(!printed.contains("张三"));
        assert!(!printed.contains("13800131234"));
    }

    #[test]
    fn anonymous_callers_drop_the_name_and_may_omit_the_phone() {
        let caller = Caller::parse("张三", "", true).unwrap();
        assert_eq!(caller.name, None);
        let err = Caller::parse("张三", "", false).unwrap_err();
        assert_eq!(
            err,
            DomainError::invalid("phone", "required unless the caller is anonymous")
        );
    }

    proptest! {
        #[test]
        fn any_valid_mobile_round_trips_and_masks_to_its_ends(second in 3u8..=9, rest in "[0-9]{9}") {
            let raw = format!("1{second}{rest}");
            let phone = PhoneNumber::parse(&raw).unwrap();
            prop_assert_eq!(phone.expose(), raw.as_str());
            let masked = phone.masked();
            prop_assert_eq!(&masked[..3], &raw[..3]);
            prop_assert_eq!(&masked[7..], &raw[7..]);
            prop_assert_eq!(&masked[3..7], "****");
        }

        #[test]
        fn parser_never_panics(raw in ".{0,24}") {
            let _ = PhoneNumber::parse(&raw);
        }

        /// Phone-like text (digits, separators, country codes, extensions,
        /// full-width digits) and whole callers: a value or an error.
        #[test]
        fn caller_parsing_never_panics(
            phone in "[+0-9０-９ ()\\-x#]{0,30}",
            name in ".{0,40}",
            anonymous in any::<bool>(),
        ) {
            if let Ok(parsed) = PhoneNumber::parse(&phone) {
                let _ = parsed.masked();
            }
            let _ = PersonName::parse(&name);
            let _ = Caller::parse(&name, &phone, anonymous);
        }
    }
}
