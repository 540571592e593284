//! What the bytes are (never the name): the media type sniffed from their
//! first bytes, JPEG EXIF GPS data removed, thumbnails of images. Pure
//! functions over bytes, CPU-bound: callers run them off the async runtime.

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageDecoder as _, ImageReader, Limits};
use img_parts::ImageEXIF as _;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// Images larger than this (pixels per side) get no thumbnail: decoding
/// them would cost more memory than a request may.
const MAX_DECODE_SIDE: u32 = 12_000;

/// The media types accepted, as sniffed from the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Jpeg,
    Png,
    Pdf,
    Heic,
    Webp,
}

impl Media {
    pub fn mime(self) -> &'static str {
        match self {
            Media::Jpeg => "image/jpeg",
            Media::Png => "image/png",
            Media::Pdf => "application/pdf",
            Media::Heic => "image/heic",
            Media::Webp => "image/webp",
        }
    }

    /// The file name extension downloads get.
    pub fn extension(self) -> &'static str {
        match self {
            Media::Jpeg => "jpg",
            Media::Png => "png",
            Media::Pdf => "pdf",
            Media::Heic => "heic",
            Media::Webp => "webp",
        }
    }

    /// The accepted type a media type names (`image/jpg` is a common
    /// alias of `image/jpeg`, `image/heif` of `image/heic`).
    pub fn from_mime(mime: &str) -> Option<Media> {
        match mime.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(Media::Jpeg),
            "image/png" => Some(Media::Png),
            "application/pdf" => Some(Media::Pdf),
            "image/heic" | "image/heif" => Some(Media::Heic),
            "image/webp" => Some(Media::Webp),
            _ => None,
        }
    }

    /// Whether a thumbnail is made (the image decoders built in).
    pub fn has_thumbnail(self) -> bool {
        matches!(self, Media::Jpeg | Media::Png)
    }
}

/// The accepted type of `bytes`, from their content; `None` for anything
/// else (an executable renamed `.jpg`, a ZIP, text, ...).
pub fn sniff(bytes: &[u8]) -> Option<Media> {
    Media::from_mime(infer::get(bytes)?.mime_type())
}

/// Bytes from the start of a file enough to tell its type (HEIC's and
/// WebP's signatures end within the first 12; a little room beyond).
pub const HEAD_BYTES: usize = 32;

/// The first chunk's verdict, before any byte of an upload is kept: `Err`
/// when `head` (the file's first bytes, at least [`HEAD_BYTES`] of them
/// or the whole file) is not an accepted type or not `expected`.
pub fn check_head(head: &[u8], expected: Option<Media>) -> Result<Media, String> {
    let Some(media) = sniff(head) else {
        return Err("the bytes are not an accepted type (JPEG, PNG, PDF, HEIC, WebP)".into());
    };
    if expected != Some(media) {
        return Err(format!(
            "the bytes are {}, not the type the job references",
            media.mime()
        ));
    }
    Ok(media)
}

/// What [`strip_gps`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stripped {
    /// No EXIF GPS data was there: the bytes are unchanged.
    Nothing,
    /// The EXIF block was rewritten without its GPS fields.
    Gps,
    /// The EXIF block could not be rewritten, so all of it was removed.
    AllExif,
}

/// `jpeg` without EXIF GPS data. The EXIF block is rewritten with the
/// primary image's other fields (orientation, camera, time) but no GPS
/// fields, no maker note (vendors hide locations there) and no embedded
/// thumbnail; when it cannot be parsed or rewritten it is removed whole.
/// The image data is untouched. Not a JPEG img-parts can parse: `None`.
pub fn strip_gps(jpeg: Bytes) -> Option<(Bytes, Stripped)> {
    let mut parsed = img_parts::jpeg::Jpeg::from_bytes(jpeg.clone()).ok()?;
    let Some(exif) = parsed.exif() else {
        return Some((jpeg, Stripped::Nothing));
    };
    let stripped = match rewrite_without_gps(&exif) {
        Ok(None) => return Some((jpeg, Stripped::Nothing)),
        Ok(Some(tiff)) => {
            parsed.set_exif(Some(tiff.into()));
            Stripped::Gps
        }
        Err(e) => {
            tracing::debug!(error = %e, "EXIF unreadable: removing all of it");
            parsed.set_exif(None);
            Stripped::AllExif
        }
    };
    Some((parsed.encoder().bytes(), stripped))
}

/// The TIFF block of `exif` without GPS fields, or `None` if it has none.
fn rewrite_without_gps(exif: &[u8]) -> Result<Option<Vec<u8>>, exif::Error> {
    let parsed = exif::Reader::new().read_raw(exif.to_vec())?;
    let gps = parsed
        .fields()
        .any(|f| f.tag.context() == exif::Context::Gps || f.tag == exif::Tag::GPSInfoIFDPointer);
    if !gps {
        return Ok(None);
    }
    let mut writer = exif::experimental::Writer::new();
    let mut kept = 0;
    for field in parsed.fields() {
        let primary = field.ifd_num == exif::In::PRIMARY;
        let gps = field.tag.context() == exif::Context::Gps;
        if primary && !gps && field.tag != exif::Tag::MakerNote {
            writer.push_field(field);
            kept += 1;
        }
    }
    if kept == 0 {
        return Err(exif::Error::InvalidFormat("nothing but GPS data"));
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, parsed.little_endian())?;
    Ok(Some(out.into_inner()))
}

/// A JPEG thumbnail of `image` (longest side [`THUMBNAIL_SIDE`]), or
/// `None` when it cannot be decoded within the limits: at most
/// `max_alloc` bytes of decoder memory (what the finish reserved).
pub fn thumbnail(image: &[u8], max_alloc: u64) -> Option<Vec<u8>> {
    let mut reader = ImageReader::new(Cursor::new(image))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(max_alloc);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let orientation = decoder.orientation().ok();
    let mut decoded = image::DynamicImage::from_decoder(decoder).ok()?;
    if let Some(o) = orientation {
        decoded.apply_orientation(o);
    }
    let small = decoded
        .thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
        .into_rgb8();
    let mut out = Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(&png(4, 4)), Some(Media::Png));
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), Some(Media::Pdf));
        // An ELF executable, whatever it is called.
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"), None);
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"), None);
        assert_eq!(sniff(b"just text"), None);
    }

    #[test]
    fn thumbnails_keep_the_aspect_within_320() {
        let thumb = thumbnail(&png(1000, 500), 64 << 20).expect("a thumbnail");
        let img = image::load_from_memory(&thumb).unwrap();
        assert_eq!((img.width(), img.height()), (320, 160));
        assert_eq!(sniff(&thumb), Some(Media::Jpeg));
        assert!(thumbnail(b"not an image", 64 << 20).is_none());
    }
}
