//! Outgoing mail: the adapters of the [`Mailer`] port (files under the data directory by
//! default, SMTP when `SAAS_SMTP_URL` is set, memory for tests).
//!
//! - [`FileMailer`] writes each mail as a file `<unix millis>-<uuid>.eml` that appears whole
//!   or not at all, readable by the owner only; [`read_mails`] reads them back.
//! - [`SmtpMailer`] hands each mail to an SMTP server over plain `smtp://` (no TLS is compiled
//!   in, so it is meant for a relay on a trusted network).
//! - [`MemoryMailer`] keeps the mails in memory for tests to look at.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Body, Mailbox,
        header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue},
    },
};

use ports_app::{AppError, AppResult, Mail, MailKind, Mailer};

/// The kind named `name` (see [`MailKind::as_str`]).
fn kind_named(name: &str) -> Option<MailKind> {
    [
        MailKind::EmailVerification,
        MailKind::PasswordReset,
        MailKind::Invitation,
        MailKind::PastDue,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == name)
}

/// The sender address unless configured otherwise.
pub const DEFAULT_FROM: &str = "no-reply@saas.localhost";

const KIND_HEADER: &str = "X-Saas-Mail-Kind";
const TOKEN_HEADER: &str = "X-Saas-Token";

fn invalid_recipient(to: &str) -> AppError {
    tracing::debug!(to, "mail recipient is not a valid address");
    AppError::invalid_field(
        "INVALID_EMAIL",
        "email",
        "the email address cannot receive mail",
    )
}

/// Whether `value` can go into a header line as it is (no line breaks or other controls).
fn header_safe(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

// ---------------------------------------------------------------------------------------------
// Files

/// Writes each mail as a file in a directory: `<unix millis>-<uuid v7>.eml`, so file names
/// sort in sending order.
///
/// A file holds the headers `From`, `To`, `Subject`, `Date`, `X-Saas-Mail-Kind` and
/// `X-Saas-Token`, a blank line, then the text, with CRLF line ends (RFC 5322; header values
/// may be UTF-8 as RFC 6532 allows). The directory is created on first use (owner only on
/// Unix), each file is readable by its owner only, and a file appears whole or not at all
/// (written under a temporary name, then renamed).
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: String,
}

impl FileMailer {
    /// A mailer writing into `dir`.
    pub fn new(dir: PathBuf) -> FileMailer {
        FileMailer {
            dir,
            from: DEFAULT_FROM.to_owned(),
        }
    }

    /// The same mailer with another `From` address.
    #[must_use]
    pub fn with_from(self, from: impl Into<String>) -> FileMailer {
        FileMailer {
            from: from.into(),
            ..self
        }
    }

    /// Where the mails go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: Mail) -> AppResult<()> {
        if !header_safe(&mail.to) || mail.to.is_empty() {
            return Err(invalid_recipient(&mail.to));
        }
        if !header_safe(&mail.subject) || !header_safe(&mail.token) || !header_safe(&self.from) {
            return Err(AppError::internal(
                "a mail header value contains a line break or control character",
            ));
        }
        let dir = self.dir.clone();
        let from = self.from.clone();
        let written = tokio::task::spawn_blocking(move || write_mail(&dir, &from, &mail)).await;
        match written {
            Ok(Ok(path)) => {
                tracing::debug!(path = %path.display(), "mail written");
                Ok(())
            }
            Ok(Err(e)) => Err(AppError::internal(format_args!(
                "writing a mail file into {}: {e}",
                self.dir.display()
            ))),
            Err(e) => Err(AppError::internal(format_args!(
                "the mail writer stopped: {e}"
            ))),
        }
    }
}

fn render(from: &str, mail: &Mail) -> String {
    let mut text = String::with_capacity(mail.text.len() + 256);
    let date = chrono::Utc::now().to_rfc2822();
    for (name, value) in [
        ("From", from),
        ("To", &mail.to),
        ("Subject", &mail.subject),
        ("Date", &date),
        (KIND_HEADER, mail.kind.as_str()),
        (TOKEN_HEADER, &mail.token),
    ] {
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    // Normalise every line end to CRLF.
    text.push_str(&mail.text.replace("\r\n", "\n").replace('\n', "\r\n"));
    text
}

fn write_mail(dir: &Path, from: &str, mail: &Mail) -> std::io::Result<PathBuf> {
    create_private_dir(dir)?;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = format!("{millis:013}-{}.eml", uuid::Uuid::now_v7());
    let path = dir.join(&name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = private_file(&temporary)?;
        file.write_all(render(from, mail).as_bytes())?;
        file.flush()?;
        drop(file);
        std::fs::rename(&temporary, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map(|()| path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Reads back every mail a [`FileMailer`] wrote into `dir`, in sending order (by file name).
/// Files that are not `.eml` files (or still being written) are ignored; a missing directory
/// holds no mail. A file that is not a mail of this format is an `InvalidData` error.
/// Line ends of the text come back as `\n`.
pub fn read_mails(dir: &Path) -> std::io::Result<Vec<Mail>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".eml") && !name.starts_with('.') {
            names.push(name.to_owned());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let raw = std::fs::read_to_string(dir.join(&name))?;
            parse_mail(&raw).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{name} is not a mail file"),
                )
            })
        })
        .collect()
}

fn parse_mail(raw: &str) -> Option<Mail> {
    let raw = raw.replace("\r\n", "\n");
    let (head, text) = raw.split_once("\n\n")?;
    let (mut to, mut subject, mut kind, mut token) = (None, None, None, None);
    for line in head.lines() {
        let (name, value) = line.split_once(": ")?;
        let slot = match name {
            "To" => &mut to,
            "Subject" => &mut subject,
            KIND_HEADER => &mut kind,
            TOKEN_HEADER => &mut token,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    Some(Mail {
        kind: kind_named(&kind?)?,
        to: to?,
        subject: subject?,
        text: text.to_owned(),
        token: token?,
    })
}

// ---------------------------------------------------------------------------------------------
// SMTP

/// Why an SMTP URL or sender address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpConfigError {
    /// The URL is not `smtp://host[:port]`.
    #[error("invalid SMTP URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The sender is not a mail address.
    #[error("invalid sender address {0:?}")]
    InvalidFrom(String),
}

/// How long one SMTP exchange may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends mail to an SMTP server over plain `smtp://host[:port]` (port 25 by default).
///
/// No TLS is compiled in, so `smtps://`, URL parameters (such as `tls=required`) and
/// credentials (which would travel in clear) are refused when the mailer is made. Each mail
/// carries an `X-Saas-Mail-Kind` header. A recipient that is not a mail address is
/// `INVALID_EMAIL`; a server that refuses or cannot be reached is an internal error, logged.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the server at `url` (`smtp://host[:port]`), sending as
    /// [`DEFAULT_FROM`]. Nothing is dialled until the first mail.
    pub fn new(url: &str) -> Result<SmtpMailer, SmtpConfigError> {
        let (host, port) = parse_smtp_url(url)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(SmtpMailer {
            transport,
            from: parse_from(DEFAULT_FROM)?,
        })
    }

    /// The same mailer sending as `from` (`addr@host` or `Name <addr@host>`).
    pub fn with_from(self, from: &str) -> Result<SmtpMailer, SmtpConfigError> {
        Ok(SmtpMailer {
            from: parse_from(from)?,
            ..self
        })
    }
}

fn parse_from(from: &str) -> Result<Mailbox, SmtpConfigError> {
    from.parse()
        .map_err(|_| SmtpConfigError::InvalidFrom(from.to_owned()))
}

fn parse_smtp_url(url: &str) -> Result<(String, u16), SmtpConfigError> {
    let invalid = |reason: &str| SmtpConfigError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected smtp://host[:port]"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "smtp" => {}
        "smtps" => {
            return Err(invalid(
                "smtps:// needs TLS, which is not compiled in; use smtp:// to a trusted relay",
            ));
        }
        _ => return Err(invalid("expected smtp://host[:port]")),
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(invalid(
            "URL parameters (such as tls=...) are not supported: TLS is not compiled in",
        ));
    }
    if rest.contains('@') {
        return Err(invalid(
            "credentials are not supported: without TLS they would travel in clear",
        ));
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(invalid("expected smtp://host[:port] without a path"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // [ipv6]:port
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("unclosed [ in the host"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("expected :port after the host"))?,
                ),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("expected a host name"));
    }
    let port = match port {
        None => 25,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
    };
    Ok((host.to_owned(), port))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> AppResult<()> {
        let to: Mailbox = mail.to.parse().map_err(|_| invalid_recipient(&mail.to))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(KIND_HEADER),
                mail.kind.as_str().to_owned(),
            ))
            .header(ContentType::TEXT_PLAIN)
            .body(body(mail.text))
            .map_err(|e| AppError::internal(format_args!("building a mail: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| AppError::internal(format_args!("sending a mail over SMTP: {e}")))
    }
}

/// The longest line RFC 5322 allows, without its CRLF.
const MAX_LINE: usize = 998;

/// The body of a mail: sent as it is (`7bit`) when it is ASCII with lines of at most 998
/// characters, so links and tokens stay on one line; encoded otherwise.
fn body(text: String) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let plain = crlf.is_ascii()
        && crlf
            .split("\r\n")
            .all(|line| line.len() <= MAX_LINE && !line.contains(['\r', '\0']));
    if plain {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Memory

/// Keeps every mail in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Mail>>,
    arrived: tokio::sync::Notify,
}

impl MemoryMailer {
    /// An empty mailbox.
    pub fn new() -> MemoryMailer {
        MemoryMailer::default()
    }

    /// Every mail sent so far, oldest first.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest mail of `kind` to `to` (compared ignoring ASCII case).
    pub fn latest(&self, to: &str, kind: MailKind) -> Option<Mail> {
        self.find(&|mail: &Mail| mail.kind == kind && mail.to.eq_ignore_ascii_case(to))
    }

    /// Waits until a mail matching `pred` has been sent and returns the latest such mail, or
    /// `None` once `timeout` has passed without one.
    pub async fn wait_for(&self, pred: impl Fn(&Mail) -> bool, timeout: Duration) -> Option<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Register before looking, so a mail sent in between still wakes us.
            arrived.as_mut().enable();
            if let Some(mail) = self.find(&pred) {
                return Some(mail);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.find(&pred);
            }
        }
    }

    /// [`MemoryMailer::wait_for`] the latest mail of `kind` to `to`.
    pub async fn wait_for_mail(&self, to: &str, kind: MailKind, timeout: Duration) -> Option<Mail> {
        self.wait_for(
            |mail| mail.kind == kind && mail.to.eq_ignore_ascii_case(to),
            timeout,
        )
        .await
    }

    fn find(&self, pred: &dyn Fn(&Mail) -> bool) -> Option<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|mail| pred(mail))
            .cloned()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: Mail) -> AppResult<()> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
        self.arrived.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    use super::*;

    fn mail(kind: MailKind, to: &str, token: &str) -> Mail {
        Mail {
            kind,
            to: to.to_owned(),
            subject: format!("Your {} link", kind.as_str()),
            text: format!("Hello,\n\nuse this token: {token}\n\nBye\n"),
            token: token.to_owned(),
        }
    }

    #[test]
    fn every_kind_is_found_by_its_name() {
        for kind in [
            MailKind::EmailVerification,
            MailKind::PasswordReset,
            MailKind::Invitation,
            MailKind::PastDue,
        ] {
            assert_eq!(kind_named(kind.as_str()), Some(kind));
        }
        assert_eq!(kind_named("spam"), None);
    }

    #[tokio::test]
    async fn a_mail_without_a_token_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(root.path().to_owned());
        let sent = mail(MailKind::PastDue, "ada@example.com", "");
        mailer.send(sent.clone()).await.unwrap();
        assert_eq!(read_mails(root.path()).unwrap(), vec![sent]);
    }

    #[tokio::test]
    async fn file_mails_round_trip_in_sending_order() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mail").join("outbox");
        assert!(read_mails(&dir).unwrap().is_empty());
        let mailer = FileMailer::new(dir.clone());
        let sent = vec![
            mail(MailKind::EmailVerification, "ada@example.com", "tok-1"),
            mail(MailKind::PasswordReset, "bob@example.com", "tok-2"),
            Mail {
                text: "Grüße,\r\nline two".into(),
                subject: "Join Café Ünïcode".into(),
                ..mail(MailKind::Invitation, "cy@example.com", "tok-3")
            },
        ];
        for m in &sent {
            mailer.send(m.clone()).await.unwrap();
        }
        let read = read_mails(&dir).unwrap();
        let mut expected = sent.clone();
        expected[2].text = "Grüße,\nline two".into();
        assert_eq!(read, expected);

        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 3, "no temporary files are left: {files:?}");
        let raw = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            raw.starts_with("From: no-reply@saas.localhost\r\n"),
            "{raw}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for file in &files {
                let mode = std::fs::metadata(file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", file.display());
            }
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[tokio::test]
    async fn a_file_mail_with_a_line_break_in_a_header_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(root.path().to_path_buf());
        let error = mailer
            .send(mail(
                MailKind::PasswordReset,
                "ada@example.com\r\nBcc: eve@example.com",
                "t",
            ))
            .await
            .unwrap_err();
        assert_eq!(error.code, "INVALID_EMAIL");
        let error = mailer
            .send(Mail {
                subject: "a\nX-Injected: yes".into(),
                ..mail(MailKind::PasswordReset, "ada@example.com", "t")
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind, ports_app::ErrorKind::Internal);
        assert!(read_mails(root.path()).unwrap().is_empty());
    }

    #[test]
    fn a_foreign_eml_file_is_invalid_data_and_other_files_are_ignored() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(".0-x.eml.tmp"), "half").unwrap();
        std::fs::write(root.path().join("notes.txt"), "hello").unwrap();
        assert!(read_mails(root.path()).unwrap().is_empty());
        std::fs::write(root.path().join("0-x.eml"), "To: a@b\r\n\r\nno kind").unwrap();
        let error = read_mails(root.path()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn smtp_urls_without_tls_are_accepted_and_the_rest_refused() {
        assert_eq!(
            parse_smtp_url("smtp://127.0.0.1:2525").unwrap(),
            ("127.0.0.1".to_owned(), 2525)
        );
        assert_eq!(
            parse_smtp_url("smtp://mail.internal/").unwrap(),
            ("mail.internal".to_owned(), 25)
        );
        assert_eq!(
            parse_smtp_url("smtp://[::1]:587").unwrap(),
            ("::1".to_owned(), 587)
        );
        for url in [
            "smtps://mail.example.com",
            "smtp://mail.example.com?tls=required",
            "smtp://user:secret@mail.example.com",
            "smtp://mail.example.com:99999",
            "smtp://mail.example.com:0",
            "smtp://",
            "http://mail.example.com",
            "mail.example.com:25",
            "smtp://mail.example.com/path",
        ] {
            let error = SmtpMailer::new(url).unwrap_err();
            assert!(
                matches!(error, SmtpConfigError::InvalidUrl { .. }),
                "{url}: {error}"
            );
        }
        let error = SmtpMailer::new("smtps://mail.example.com").unwrap_err();
        assert!(error.to_string().contains("TLS"), "{error}");
        assert!(
            SmtpMailer::new("smtp://127.0.0.1")
                .unwrap()
                .with_from("not an address")
                .is_err()
        );
        assert!(
            SmtpMailer::new("smtp://127.0.0.1")
                .unwrap()
                .with_from("Saas <hi@example.com>")
                .is_ok()
        );
    }

    #[test]
    fn ascii_bodies_go_as_they_are_and_others_are_encoded() {
        let long = format!("https://app.example/reset?token={}", "a".repeat(200));
        let body = body(format!("Hello\n{long}\n"));
        assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
        assert_eq!(body.into_vec(), format!("Hello\r\n{long}\r\n").into_bytes());
        for text in ["Grüße".to_owned(), "a".repeat(MAX_LINE + 1)] {
            assert_ne!(
                super::body(text.clone()).encoding(),
                ContentTransferEncoding::SevenBit,
                "{text:?}"
            );
        }
    }

    #[tokio::test]
    async fn smtp_refuses_a_recipient_that_is_not_an_address() {
        let mailer = SmtpMailer::new("smtp://127.0.0.1:1").unwrap();
        let error = mailer
            .send(mail(MailKind::Invitation, "not an address", "t"))
            .await
            .unwrap_err();
        assert_eq!(error.code, "INVALID_EMAIL");
        assert_eq!(error.fields[0].field, "email");
    }

    #[tokio::test]
    async fn smtp_to_a_closed_port_is_internal() {
        let port = free_port();
        let mailer = SmtpMailer::new(&format!("smtp://127.0.0.1:{port}")).unwrap();
        let error = mailer
            .send(mail(MailKind::Invitation, "ada@example.com", "t"))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ports_app::ErrorKind::Internal);
        assert_eq!(error.message, "internal error");
    }

    /// A port nothing listens on (bound once, then released).
    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// An aiosmtpd server storing mail in a Maildir, killed on drop.
    struct SmtpServer {
        child: Child,
        addr: SocketAddr,
        _root: tempfile::TempDir,
        maildir: PathBuf,
    }

    impl SmtpServer {
        /// Starts the server when `SAAS_TEST_SMTP` is set (as `.ci/run` does, which installs
        /// aiosmtpd); otherwise says that the test is skipped and returns `None`, so that
        /// `cargo test` needs nothing beyond the Rust toolchain.
        fn start_if_enabled(test: &str) -> Option<SmtpServer> {
            if std::env::var_os("SAAS_TEST_SMTP").is_none_or(|v| v.is_empty()) {
                eprintln!(
                    "{test}: skipped, SAAS_TEST_SMTP is not set (set it to run against aiosmtpd, \
                     `pip install aiosmtpd`)"
                );
                return None;
            }
            Some(SmtpServer::start())
        }

        fn start() -> SmtpServer {
            let probe = Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .output();
            match probe {
                Ok(output) if output.status.success() => {}
                Ok(output) => panic!(
                    "this test needs the Python module aiosmtpd: install it with \
                     `pip install aiosmtpd` ({})",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                Err(e) => panic!(
                    "this test needs python3 with the aiosmtpd module \
                     (`pip install aiosmtpd`): cannot run python3: {e}"
                ),
            }
            let root = tempfile::tempdir().unwrap();
            let maildir = root.path().join("maildir");
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let child = Command::new("python3")
                .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn python3 -m aiosmtpd");
            let mut server = SmtpServer {
                child,
                addr,
                _root: root,
                maildir,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if TcpStream::connect(addr).is_ok() {
                    return server;
                }
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!("aiosmtpd exited before listening: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "aiosmtpd did not listen on {addr} within 60 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        /// Waits until the server has stored a message and returns it.
        async fn wait_for_message(&self) -> String {
            let new = self.maildir.join("new");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(entries) = std::fs::read_dir(&new) {
                    let files: Vec<_> = entries.filter_map(Result::ok).collect();
                    if let Some(entry) = files.first() {
                        assert_eq!(files.len(), 1, "exactly one message is stored");
                        return std::fs::read_to_string(entry.path()).unwrap();
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "no message arrived in {} within 60 s",
                    new.display()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    impl Drop for SmtpServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn smtp_delivers_to_a_real_server() {
        let Some(server) = SmtpServer::start_if_enabled("smtp_delivers_to_a_real_server") else {
            return;
        };
        let mailer = SmtpMailer::new(&format!("smtp://{}", server.addr))
            .unwrap()
            .with_from("Saas <hello@saas.localhost>")
            .unwrap();
        let token = ports_app::token::new_token(uuid::Uuid::now_v7());
        mailer
            .send(mail(MailKind::PasswordReset, "ada@example.com", &token))
            .await
            .unwrap();
        let message = server.wait_for_message().await;
        assert!(message.contains("To: ada@example.com"), "{message}");
        assert!(
            message.contains("Subject: Your password-reset link"),
            "{message}"
        );
        assert!(
            message.contains("X-Saas-Mail-Kind: password-reset"),
            "{message}"
        );
        assert!(
            message.contains("From: Saas <hello@saas.localhost>"),
            "{message}"
        );
        assert!(message.contains(&token), "{message}");
    }

    #[tokio::test]
    async fn memory_mailer_finds_the_latest_mail_for_an_address_and_kind() {
        let mailer = std::sync::Arc::new(MemoryMailer::new());
        assert!(
            mailer
                .wait_for(|_| true, Duration::from_millis(10))
                .await
                .is_none()
        );
        mailer
            .send(mail(MailKind::EmailVerification, "ada@example.com", "old"))
            .await
            .unwrap();
        mailer
            .send(mail(MailKind::PasswordReset, "ada@example.com", "reset"))
            .await
            .unwrap();
        mailer
            .send(mail(MailKind::EmailVerification, "ada@example.com", "new"))
            .await
            .unwrap();
        assert_eq!(mailer.sent().len(), 3);
        let latest = mailer
            .latest("ADA@example.com", MailKind::EmailVerification)
            .unwrap();
        assert_eq!(latest.token, "new");
        assert!(
            mailer
                .latest("bob@example.com", MailKind::Invitation)
                .is_none()
        );

        let waiting = {
            let mailer = mailer.clone();
            tokio::spawn(async move {
                mailer
                    .wait_for_mail(
                        "bob@example.com",
                        MailKind::Invitation,
                        Duration::from_secs(60),
                    )
                    .await
            })
        };
        tokio::task::yield_now().await;
        mailer
            .send(mail(MailKind::Invitation, "bob@example.com", "invite"))
            .await
            .unwrap();
        let found = waiting.await.unwrap().unwrap();
        assert_eq!(found.token, "invite");
    }
}
