//! The files behind item URIs (images, audio, documents). When a batch is created each one is read (a local path
//! or `file://`) or fetched (`http(s)://`, `ipfs://` through the gateway), hashed (SHA-256, with its raw CIDv1)
//! into the item's content hash, and copied into the publication folder as `media/<sha256><.ext>`. An annotator
//! fetches a file only through [`verified_media`], which checks it against that hash before anything shows it and
//! keeps the verified copy under `CONCORD_HOME/media`.

use futures::{stream, StreamExt, TryStreamExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ClientError;
use concord_protocol::manifest::{Item, ManifestItem, Media};

/// The HTTP(S) address of a manifest or media URI: itself for `http(s)://`, through `gateway` for `ipfs://CID/path`, none
/// for a local path or `file://` URI.
pub fn http_location(uri: &str, gateway: &str) -> Option<String> {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return Some(uri.to_string());
    }
    uri.strip_prefix("ipfs://")
        .map(|rest| format!("{}/ipfs/{rest}", gateway.trim_end_matches('/')))
}

/// Largest media file read or fetched.
pub const MAX_MEDIA_BYTES: u64 = 256 << 20;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Files fetched at once.
const PARALLEL_FETCHES: usize = 8;

/// Bytes at `url` (http or https), at most `limit`; the error is a short reason (`HTTP 404`, `no answer within
/// 60 s`, `larger than …`).
pub async fn fetch_limited(url: &str, limit: u64) -> Result<Vec<u8>, String> {
    fetch_within(url, limit, FETCH_TIMEOUT).await
}

async fn fetch_within(url: &str, limit: u64, timeout: Duration) -> Result<Vec<u8>, String> {
    let http = alloy::transports::http::reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = http.get(url).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("no answer within {} s", timeout.as_secs())
        } else {
            e.to_string()
        }
    })?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let too_big = || format!("larger than {limit} bytes");
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    // Read in chunks so a server that lies about (or omits) its length cannot make us hold more than `limit`.
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        if e.is_timeout() {
            format!("no answer within {} s", timeout.as_secs())
        } else {
            e.to_string()
        }
    })? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A local path for `uri` (`file://…` or a path, relative ones under `base`); none for network URIs.
fn local_path(uri: &str, base: Option<&Path>) -> Option<PathBuf> {
    if uri.contains("://") && !uri.starts_with("file://") {
        return None;
    }
    let p = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    Some(match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    })
}

/// The bytes behind `uri`, at most `limit`.
async fn read_uri(
    uri: &str,
    base: Option<&Path>,
    gateway: &str,
    limit: u64,
) -> Result<Vec<u8>, String> {
    if let Some(p) = local_path(uri, base) {
        let len = std::fs::metadata(&p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?
            .len();
        if len > limit {
            return Err(format!("larger than {limit} bytes"));
        }
        return std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    }
    let url =
        http_location(uri, gateway).ok_or_else(|| format!("unsupported URI scheme in {uri}"))?;
    fetch_limited(&url, limit).await
}

/// `.ext` of a URI's last path segment (letters and digits, at most 8), or nothing.
fn extension(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        Some((_, ext))
            if !ext.is_empty()
                && ext.len() <= 8
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

/// File name of a media file in a publication folder and in the cache: its SHA-256 in hex and its extension.
pub fn file_name(media: &Media, uri: &str) -> String {
    format!("{}{}", alloy::hex::encode(media.sha256), extension(uri))
}

/// Reads or fetches the file behind every item's `uri` (not `data:` URIs, which hold their bytes), records its hash
/// in the item and copies it to `out_dir/media/`. The item's URI becomes `<publish_url>/media/<file>` when the
/// folder is to be published, the copy's `file://` path for a local file, and stays as it was for a file already on
/// the network. Returns how many files were hashed.
pub async fn publish_media(
    items: &mut [Item],
    dataset_dir: &Path,
    out_dir: &Path,
    publish_url: Option<&str>,
    gateway: &str,
) -> Result<usize, ClientError> {
    let wanted: Vec<(usize, String)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| it.uri.clone().map(|u| (i, u)))
        .filter(|(_, u)| !u.is_empty() && !u.starts_with("data:"))
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let dir = out_dir.join("media");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ClientError::Input(format!("cannot create {}: {e}", dir.display())))?;
    let files: Vec<(usize, String, Media)> = stream::iter(wanted)
        .map(|(i, uri)| {
            let (dir, id) = (dir.clone(), items[i].id.clone());
            async move {
                let bytes = read_uri(&uri, Some(dataset_dir), gateway, MAX_MEDIA_BYTES)
                    .await
                    .map_err(|why| {
                        ClientError::Input(format!(
                            "item `{id}`: cannot read its media {uri}: {why}"
                        ))
                    })?;
                let media = Media::of(&bytes);
                let name = file_name(&media, &uri);
                let target = dir.join(&name);
                if !target.exists() {
                    let tmp = dir.join(format!("{name}.part"));
                    std::fs::write(&tmp, &bytes)
                        .and_then(|_| std::fs::rename(&tmp, &target))
                        .map_err(|e| {
                            ClientError::Input(format!("cannot write {}: {e}", target.display()))
                        })?;
                }
                let uri = match (publish_url, local_path(&uri, None)) {
                    (Some(base), _) => format!("{}/media/{name}", base.trim_end_matches('/')),
                    (None, Some(_)) => format!("file://{}", target.display()),
                    (None, None) => uri,
                };
                Ok::<_, ClientError>((i, uri, media))
            }
        })
        .buffered(PARALLEL_FETCHES)
        .try_collect()
        .await?;
    let n = files.len();
    for (i, uri, media) in files {
        items[i].uri = Some(uri);
        items[i].media = Some(media);
    }
    Ok(n)
}

/// The verified local copy of an item's media file (none if the item has none): from the cache under `cache_dir`
/// if a copy there still matches, else fetched from the item's URI (or read, for a local one) and checked against
/// the hash the manifest (verified against the on-chain root) names. Bytes that do not match are never kept or
/// returned: the error names the item.
pub async fn verified_media(
    item: &ManifestItem,
    gateway: &str,
    cache_dir: &Path,
) -> Result<Option<PathBuf>, ClientError> {
    let Some(media) = &item.media else {
        return Ok(None);
    };
    let cached = cache_dir.join(file_name(media, &item.uri));
    if std::fs::read(&cached).is_ok_and(|b| media.matches(&b)) {
        return Ok(Some(cached));
    }
    let shown = http_location(&item.uri, gateway).unwrap_or_else(|| item.uri.clone());
    let bytes = read_uri(&item.uri, None, gateway, media.size)
        .await
        .map_err(|why| {
            let why = if why.starts_with("larger than") {
                format!("larger than the {} bytes the manifest names", media.size)
            } else {
                why
            };
            ClientError::Manifest(format!(
                "item `{}`: cannot fetch its media {shown}: {why}",
                item.id
            ))
        })?;
    if !media.matches(&bytes) {
        return Err(ClientError::Manifest(format!(
            "item `{}`: the media at {shown} is not the file the batch was created with (SHA-256 differs); refusing it",
            item.id
        )));
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| ClientError::Input(format!("cannot create {}: {e}", cache_dir.display())))?;
    let tmp = cached.with_extension("part");
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, &cached))
        .map_err(|e| ClientError::Input(format!("cannot write {}: {e}", cached.display())))?;
    Ok(Some(cached))
}

/// [`verified_media`] of several items, a few at a time, in order.
pub async fn verified_media_all(
    items: &[ManifestItem],
    gateway: &str,
    cache_dir: &Path,
) -> Result<Vec<Option<PathBuf>>, ClientError> {
    let (gateway, cache_dir) = (gateway.to_string(), cache_dir.to_path_buf());
    stream::iter(items.to_vec())
        .map(|it| {
            let (gateway, cache_dir) = (gateway.clone(), cache_dir.clone());
            async move { verified_media(&it, &gateway, &cache_dir).await }
        })
        .buffered(PARALLEL_FETCHES)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_never_answers_or_sends_too_much_is_one_short_reason() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/x.png", silent.local_addr().expect("addr"));
        tokio::spawn(async move {
            let (_conn, _) = silent.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let e = fetch_within(&url, 100, Duration::from_secs(1))
            .await
            .expect_err("timeout");
        assert_eq!(e, "no answer within 1 s");

        // A server that claims no length and streams more than the limit is cut off at the limit.
        let flood = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/x.png", flood.local_addr().expect("addr"));
        tokio::spawn(async move {
            let (mut conn, _) = flood.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                .await;
            for _ in 0..64 {
                if conn.write_all(&[b'x'; 1024]).await.is_err() {
                    break;
                }
            }
        });
        let e = fetch_within(&url, 10_000, Duration::from_secs(5))
            .await
            .expect_err("oversize");
        assert_eq!(e, "larger than 10000 bytes");
    }

    #[test]
    fn extensions_are_short_and_plain() {
        assert_eq!(extension("https://h/a/cat.PNG?x=1"), ".png");
        assert_eq!(extension("ipfs://bafy/dir/clip.mp3"), ".mp3");
        assert_eq!(extension("https://h/a/noext"), "");
        assert_eq!(extension("https://h/a.b/c"), "");
        assert_eq!(extension("file:///x/y.tar.gz"), ".gz");
        assert_eq!(extension("https://h/x.<script>"), "");
    }

    fn item(id: &str, uri: &str) -> Item {
        Item {
            id: id.into(),
            text: None,
            uri: Some(uri.into()),
            meta: None,
            gold: None,
            media: None,
        }
    }

    #[tokio::test]
    async fn created_media_are_copied_by_hash_and_verified_before_use() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join("cat.png"), b"cat bytes").expect("write");
        let mut items = vec![
            item("cat", "cat.png"),
            item("inline", "data:image/png;base64,AA=="),
        ];
        let out = d.path().join("out");
        let n = publish_media(
            &mut items,
            d.path(),
            &out,
            Some("https://cdn.example/b/"),
            "https://gw",
        )
        .await
        .expect("published");
        assert_eq!(n, 1, "data: URIs carry their own bytes");
        let media = items[0].media.clone().expect("hashed");
        let name = file_name(&media, "cat.png");
        assert_eq!(
            items[0].uri.as_deref(),
            Some(&*format!("https://cdn.example/b/media/{name}"))
        );
        assert_eq!(
            std::fs::read(out.join("media").join(&name)).expect("copy"),
            b"cat bytes"
        );
        assert!(items[1].media.is_none());

        // An annotator reading the copy gets it verified and cached; a changed file is refused, naming the item.
        let classes = ["a".to_string(), "b".to_string()];
        let mut local = vec![item("cat", "cat.png")];
        publish_media(&mut local, d.path(), &out, None, "https://gw")
            .await
            .expect("local");
        let m = concord_protocol::manifest::Manifest::build(&local, &classes);
        let cache = d.path().join("cache");
        let got = verified_media(&m.items[0], "https://gw", &cache)
            .await
            .expect("verified");
        assert_eq!(
            std::fs::read(got.expect("a file")).expect("cached"),
            b"cat bytes"
        );
        std::fs::remove_dir_all(&cache).expect("clear cache");
        std::fs::write(out.join("media").join(&name), b"dog bytes").expect("swap");
        let e = verified_media(&m.items[0], "https://gw", &cache)
            .await
            .expect_err("swapped");
        assert!(
            e.to_string().contains("item `cat`") && e.to_string().contains("SHA-256 differs"),
            "{e}"
        );
        assert!(!cache.join(&name).exists(), "nothing unverified is kept");
        std::fs::write(out.join("media").join(&name), b"cat bytes and more").expect("grow");
        let e = verified_media(&m.items[0], "https://gw", &cache)
            .await
            .expect_err("oversize");
        assert!(
            e.to_string()
                .contains("larger than the 9 bytes the manifest names"),
            "{e}"
        );
    }
}
