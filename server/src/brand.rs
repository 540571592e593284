//! The company's brand on what customers see: its name, logo and colours
//! (`--brand-name`, `--brand-logo`, `--brand-colour`,
//! `--brand-accent-colour`), checked once at start, with Fieldsync's own
//! as the default. The feedback form and its emails read a [`Brand`]; the
//! logo is served at `GET /brand/logo`. See docs/branding.md.
//!
//! Text drawn on a brand colour is black or white, whichever contrasts
//! more ([`Colour::text_colour`]): that is always at least 4.5:1 (WCAG AA),
//! whatever colour the company picks.
//!
//! ```
//! use fieldsync_server::brand::Colour;
//! let navy: Colour = "#0b2545".parse().unwrap();
//! assert_eq!(navy.text_colour().to_string(), "#ffffff");
//! let yellow: Colour = "#ffd23f".parse().unwrap();
//! assert_eq!(yellow.text_colour().to_string(), "#000000");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clap::Args;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// Fieldsync's own colours and logo: the defaults.
pub const DEFAULT_NAME: &str = "Fieldsync";
pub const DEFAULT_COLOUR: &str = "#0b57d0";
pub const DEFAULT_ACCENT_COLOUR: &str = "#e8f0fe";
const DEFAULT_LOGO: &[u8] = include_bytes!("../assets/fieldsync-logo.svg");
/// Largest logo accepted: it is sent to every customer who opens a form.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// Longest company name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// An sRGB colour written `#rrggbb` (or `#rgb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour(pub [u8; 3]);

impl FromStr for Colour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a colour: write it as #rrggbb, e.g. #0b57d0");
        let hex = s.trim().strip_prefix('#').ok_or_else(bad)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).map_err(|_| bad());
        match hex.len() {
            6 => {
                let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
                Ok(Colour([byte(0)?, byte(2)?, byte(4)?]))
            }
            3 => Ok(Colour([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17])),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl Colour {
    pub const WHITE: Colour = Colour([0xff, 0xff, 0xff]);
    /// Text on a light brand colour. Pure black: a softer dark grey would
    /// fall below 4.5:1 on mid-tones (about 4.2:1 at worst for #1a1a1a).
    pub const BLACK: Colour = Colour([0, 0, 0]);

    /// WCAG 2 relative luminance, 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// WCAG 2 contrast ratio between two colours, 1 to 21.
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// The text colour to write on this one: white or black, whichever
    /// contrasts more (at least 4.58:1 for any colour).
    pub fn text_colour(self) -> Colour {
        if self.contrast(Colour::WHITE) >= self.contrast(Colour::BLACK) {
            Colour::WHITE
        } else {
            Colour::BLACK
        }
    }
}

fn parse_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() {
        return Err("the brand name is empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the brand name is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the brand name has control characters (a line break?)".into());
    }
    Ok(name.to_owned())
}

/// Brand flags and environment variables.
#[derive(Clone, Debug, Args)]
pub struct BrandSettings {
    /// The company's name, as customers read it on forms and emails.
    #[arg(long, env = "FIELDSYNC_BRAND_NAME", default_value = DEFAULT_NAME, value_parser = parse_name, global = true)]
    pub brand_name: String,
    /// The company's logo, a PNG or SVG file of at most 256 KiB (read once
    /// at start; default: Fieldsync's).
    #[arg(long, env = "FIELDSYNC_BRAND_LOGO", global = true)]
    pub brand_logo: Option<PathBuf>,
    /// The main colour (`#rrggbb`): buttons customers press.
    #[arg(long, env = "FIELDSYNC_BRAND_COLOUR", default_value = DEFAULT_COLOUR, global = true)]
    pub brand_colour: Colour,
    /// The second colour (`#rrggbb`): the band that carries the name and logo.
    #[arg(long, env = "FIELDSYNC_BRAND_ACCENT_COLOUR", default_value = DEFAULT_ACCENT_COLOUR, global = true)]
    pub brand_accent_colour: Colour,
}

impl Default for BrandSettings {
    fn default() -> Self {
        Self {
            brand_name: DEFAULT_NAME.into(),
            brand_logo: None,
            brand_colour: DEFAULT_COLOUR.parse().expect("valid default colour"),
            brand_accent_colour: DEFAULT_ACCENT_COLOUR.parse().expect("valid default colour"),
        }
    }
}

/// Why the brand settings cannot be used (the server refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum BrandError {
    #[error("cannot read the brand logo {path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the brand logo {path} is {size} bytes; at most {MAX_LOGO_BYTES} are allowed")]
    TooLarge { path: String, size: u64 },
    #[error("the brand logo {path} is neither a PNG nor an SVG image")]
    NotAnImage { path: String },
}

/// A logo's bytes and media type.
#[derive(Clone, Debug)]
pub struct Logo {
    pub bytes: Bytes,
    pub content_type: &'static str,
}

impl Logo {
    /// PNG by its signature; SVG by an `<svg` root in UTF-8 text.
    fn sniff(bytes: &[u8]) -> Option<&'static str> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some("image/png");
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let start = text.trim_start_matches('\u{feff}').trim_start();
        let svg = start.starts_with('<') && text.contains("<svg") && text.contains("</svg>");
        svg.then_some("image/svg+xml")
    }

    fn load(path: &Path) -> Result<Logo, BrandError> {
        let shown = path.display().to_string();
        let unreadable = |source| BrandError::Unreadable {
            path: shown.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(unreadable)?.len();
        if size > MAX_LOGO_BYTES as u64 {
            return Err(BrandError::TooLarge { path: shown, size });
        }
        let bytes = std::fs::read(path).map_err(unreadable)?;
        if bytes.len() > MAX_LOGO_BYTES {
            // Grew between the two calls.
            let size = bytes.len() as u64;
            return Err(BrandError::TooLarge { path: shown, size });
        }
        let content_type = Logo::sniff(&bytes).ok_or(BrandError::NotAnImage { path: shown })?;
        Ok(Logo {
            bytes: Bytes::from(bytes),
            content_type,
        })
    }
}

/// The brand customers see, checked and loaded.
#[derive(Clone, Debug)]
pub struct Brand {
    pub name: String,
    pub colour: Colour,
    pub accent: Colour,
    pub logo: Logo,
}

impl Default for Brand {
    fn default() -> Self {
        Brand::load(&BrandSettings::default()).expect("the default brand loads")
    }
}

/// Where the logo is served (pages use it as is; emails put the public URL before it).
pub const LOGO_PATH: &str = "/brand/logo";

impl Brand {
    /// Reads and checks the logo file, if one is set.
    pub fn load(settings: &BrandSettings) -> Result<Brand, BrandError> {
        let logo = match &settings.brand_logo {
            Some(path) => Logo::load(path)?,
            None => Logo {
                bytes: Bytes::from_static(DEFAULT_LOGO),
                content_type: "image/svg+xml",
            },
        };
        Ok(Brand {
            name: settings.brand_name.clone(),
            colour: settings.brand_colour,
            accent: settings.brand_accent_colour,
            logo,
        })
    }

    /// Text colour on the main colour.
    pub fn on_colour(&self) -> Colour {
        self.colour.text_colour()
    }

    /// Text colour on the accent colour.
    pub fn on_accent(&self) -> Colour {
        self.accent.text_colour()
    }

    /// Inline style of an email's header band (mail clients drop `<style>`).
    pub fn email_band_style(&self) -> String {
        format!(
            "background: {}; color: {}; padding: 12px 16px; font-size: 18px; font-weight: bold",
            self.accent,
            self.on_accent()
        )
    }

    /// Inline style of an email's call-to-action link, drawn as a button.
    pub fn email_button_style(&self) -> String {
        format!(
            "display: inline-block; padding: 12px 20px; background: {}; color: {}; \
             text-decoration: none; border-radius: 6px; font-weight: bold",
            self.colour,
            self.on_colour()
        )
    }

    /// Absolute URL of the logo for messages read outside the browser.
    pub fn logo_url(&self, public_url: &str) -> String {
        format!("{}{LOGO_PATH}", public_url.trim_end_matches('/'))
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logo))
}

/// The company's logo (PNG or SVG), as the feedback form and its emails
/// show it. Public: customers' pages and mail clients load it.
#[utoipa::path(
    get,
    path = "/brand/logo",
    tag = "brand",
    responses(
        (status = 200, description = "The logo", content(
            (Vec<u8> = "image/png"),
            (String = "image/svg+xml"),
        )),
    )
)]
async fn logo(State(state): State<AppState>) -> Response {
    let logo = &state.brand.logo;
    let mut res = logo.bytes.clone().into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(logo.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    // An SVG opened on its own is a document: nothing in it may run or load.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_from_hex_only() {
        assert_eq!("#0B57d0".parse(), Ok(Colour([0x0b, 0x57, 0xd0])));
        assert_eq!("#fff".parse(), Ok(Colour::WHITE));
        for bad in [
            "0b57d0", "#0b57d", "#0b57d0a", "blue", "#gg0000", "#", "#+1+2+3",
        ] {
            let err = bad.parse::<Colour>().unwrap_err();
            assert!(err.contains("#rrggbb"), "{bad}: {err}");
        }
        assert_eq!(Colour([0x0b, 0x57, 0xd0]).to_string(), "#0b57d0");
    }

    #[test]
    fn text_on_any_brand_colour_reaches_wcag_aa() {
        // Every 17th step of each channel: 4,096 colours, the grey middle included.
        for r in (0..=255).step_by(17) {
            for g in (0..=255).step_by(17) {
                for b in (0..=255).step_by(17) {
                    let c = Colour([r, g, b]);
                    let ratio = c.contrast(c.text_colour());
                    assert!(ratio >= 4.5, "{c} with {}: {ratio}", c.text_colour());
                }
            }
        }
        assert_eq!(Colour([0x0b, 0x57, 0xd0]).text_colour(), Colour::WHITE);
        assert_eq!(Colour([0xff, 0xd2, 0x3f]).text_colour(), Colour::BLACK);
        assert!((Colour::WHITE.contrast(Colour::BLACK) - 21.0).abs() < 1e-9);
    }

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(parse_name("  Acme Heating  ").unwrap(), "Acme Heating");
        assert!(parse_name("  ").is_err());
        assert!(parse_name("Acme\nHeating").is_err());
        assert!(parse_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn logos_are_png_or_svg_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            BrandSettings {
                brand_logo: Some(p),
                ..BrandSettings::default()
            }
        };
        let png = Brand::load(&file("a.png", b"\x89PNG\r\n\x1a\nrest")).unwrap();
        assert_eq!(png.logo.content_type, "image/png");
        let svg = Brand::load(&file("a.svg", b"<?xml version=\"1.0\"?><svg></svg>")).unwrap();
        assert_eq!(svg.logo.content_type, "image/svg+xml");
        let err = Brand::load(&file("a.gif", b"GIF89a....")).unwrap_err();
        assert!(matches!(err, BrandError::NotAnImage { .. }), "{err}");
        let big = vec![b' '; MAX_LOGO_BYTES + 1];
        let err = Brand::load(&file("big.svg", &big)).unwrap_err();
        assert!(err.to_string().contains("at most 262144"), "{err}");
        let missing = BrandSettings {
            brand_logo: Some(dir.path().join("nope.png")),
            ..BrandSettings::default()
        };
        let err = Brand::load(&missing).unwrap_err();
        assert!(err.to_string().contains("nope.png"), "{err}");
        let default = Brand::default();
        assert_eq!(default.name, "Fieldsync");
        assert_eq!(default.logo.content_type, "image/svg+xml");
    }
}
