//! The messages Portcullis sends: each is written to the store's outbox in the same
//! transaction as the change that causes it, rendered here as plain text and HTML (askama
//! escapes the HTML). The only secret a message may carry is a single-use link whose token is
//! stored hashed; delivery is the outbox worker's business (`outbox_worker`).

use askama::Template;
use portcullis_store::Write;

use crate::Result;

/// A link in a message: what it does and where it goes.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub label: &'static str,
    pub url: String,
}

/// One message before rendering.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub to: String,
    pub subject: String,
    pub greeting: String,
    pub paragraphs: Vec<String>,
    pub link: Option<Link>,
}

#[derive(Template)]
#[template(path = "mail/message.txt", escape = "none")]
struct TextBody<'a> {
    greeting: &'a str,
    paragraphs: &'a [String],
    link: &'a Option<Link>,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlBody<'a> {
    subject: &'a str,
    greeting: &'a str,
    paragraphs: &'a [String],
    link: &'a Option<Link>,
}

impl Mail {
    pub(crate) fn new(to: &str, subject: impl Into<String>, greeting: &str) -> Self {
        Self {
            to: to.to_owned(),
            subject: subject.into(),
            greeting: greeting.to_owned(),
            paragraphs: Vec::new(),
            link: None,
        }
    }

    pub(crate) fn say(mut self, paragraph: impl Into<String>) -> Self {
        self.paragraphs.push(paragraph.into());
        self
    }

    pub(crate) fn link(mut self, label: &'static str, url: String) -> Self {
        self.link = Some(Link { label, url });
        self
    }

    /// The plain-text and HTML bodies.
    pub(crate) fn render(&self) -> Result<(String, String)> {
        let text = TextBody {
            greeting: &self.greeting,
            paragraphs: &self.paragraphs,
            link: &self.link,
        }
        .render()
        .map_err(|e| crate::ServiceError::Internal(Box::new(e)))?;
        let html = HtmlBody {
            subject: &self.subject,
            greeting: &self.greeting,
            paragraphs: &self.paragraphs,
            link: &self.link,
        }
        .render()
        .map_err(|e| crate::ServiceError::Internal(Box::new(e)))?;
        Ok((text, html))
    }

    /// Queues the message in the write's transaction; returns its outbox id.
    pub(crate) async fn queue(&self, w: &mut Write) -> Result<i64> {
        let (text, html) = self.render()?;
        Ok(
            w.enqueue_message(&self.to, &self.subject, &text, Some(&html))
                .await?,
        )
    }
}

/// `base` joined with a path and a query-safe token (tokens are `[A-Za-z0-9_]`).
pub(crate) fn link_to(base: &str, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", base.trim_end_matches('/'))
}
