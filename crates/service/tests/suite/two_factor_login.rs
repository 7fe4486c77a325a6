//! Logins that pass through two-factor at the service level: "remember me" carried through the
//! second step, and the login that an organization's two-factor requirement stops, completed
//! by enrolling (`login_enrolling_second_factor`): the session only with a current code of the
//! new factor, the enrolment token single use and expiring. The backend follows
//! `PORTCULLIS_TEST_BACKEND` (SQLite by default).

use std::sync::Arc;

use portcullis_core::{FixedClock, UserKey};
use portcullis_service::authentication::{LoginOutcome, SignupInput};
use portcullis_service::store::testing::{TestStore, fresh_store};
use portcullis_service::totp::{
    LOGIN_TOKEN_TTL_MS, RECOVERY_CODE_COUNT, STEP_SECONDS, TotpAuthority, code_at,
};
use portcullis_service::{Caller, Portcullis, RequestMeta, ServiceConfig, ServiceError};
use secrecy::{ExposeSecret, SecretString};

const T0: i64 = 1_700_000_000_000;
const STEP_MS: i64 = STEP_SECONDS * 1000;
const PASSWORD: &str = "correct-horse-battery-staple-42";

struct World {
    _store: TestStore,
    clock: FixedClock,
    service: Arc<Portcullis>,
    alice: UserKey,
}

/// Alice, the administrator of `acme`; `require_two_factor` turns acme's requirement on.
async fn world(require_two_factor: bool) -> World {
    let store = fresh_store().await.unwrap();
    let clock = FixedClock::at(T0);
    let service = Portcullis::start(
        store.store.clone(),
        Arc::new(clock.clone()),
        ServiceConfig::default(),
    )
    .await
    .unwrap();
    let alice = service
        .signup(
            &Caller::system(),
            SignupInput {
                id: "alice".into(),
                email: "alice@example.com".into(),
                password: SecretString::from(PASSWORD),
                first_name: "Alice".into(),
                last_name: String::new(),
            },
        )
        .await
        .unwrap()
        .value
        .key;
    let admin = Caller::user_directly(alice);
    service
        .create_org(&admin, "acme", "Acme", "billing@example.com")
        .await
        .unwrap();
    if require_two_factor {
        service
            .set_org_requires_two_factor(&admin, "acme", true)
            .await
            .unwrap();
    }
    World {
        _store: store,
        clock,
        service,
        alice,
    }
}

impl World {
    fn now(&self) -> i64 {
        self.service.now()
    }

    async fn login(&self, remember_me: bool) -> LoginOutcome {
        self.service
            .login(
                RequestMeta::default(),
                "alice@example.com",
                SecretString::from(PASSWORD),
                remember_me,
            )
            .await
            .unwrap()
    }

    /// Logs in (stopped by acme's requirement) and starts enrolment: the token and the secret.
    async fn start_enrolment(&self, remember_me: bool) -> (String, String) {
        let LoginOutcome::TwoFactorEnrolmentRequired {
            enrolment_token, ..
        } = self.login(remember_me).await
        else {
            panic!("acme requires two-factor: the login must ask for enrolment");
        };
        let token = enrolment_token.expose_secret().to_owned();
        let caller = Caller::anonymous(RequestMeta::default());
        let started = self
            .service
            .enrol_totp(TotpAuthority::EnrolmentToken(&caller, &token))
            .await
            .unwrap();
        (token, started.value.secret.expose_secret().to_owned())
    }

    async fn two_factor_on(&self) -> bool {
        let caller = Caller::user_directly(self.alice);
        self.service.totp_status(&caller).await.unwrap().0
    }
}

fn assert_invalid(err: ServiceError, expected: &str) {
    match err {
        ServiceError::Invalid { code, .. } => assert_eq!(code, expected),
        other => panic!("expected `{expected}`, got {other:?}"),
    }
}

#[tokio::test]
async fn enrolling_at_login_grants_the_session_that_login_asked_for() {
    for remember_me in [false, true] {
        let w = world(true).await;
        let (token, secret) = w.start_enrolment(remember_me).await;

        // A wrong code turns nothing on and grants nothing; the token stays usable.
        let err = w
            .service
            .login_enrolling_second_factor(RequestMeta::default(), &token, "000000")
            .await
            .unwrap_err();
        assert_invalid(err, "totp.invalid_code");
        assert!(!w.two_factor_on().await);

        let code = code_at(&secret, w.now()).unwrap();
        let done = w
            .service
            .login_enrolling_second_factor(RequestMeta::default(), &token, &code)
            .await
            .unwrap();
        assert_eq!(done.recovery_codes.len(), RECOVERY_CODE_COUNT);
        assert_eq!(done.session.remember_me, remember_me);
        let ttl = if remember_me {
            ServiceConfig::default().remember_me_ttl_ms
        } else {
            ServiceConfig::default().session_ttl_ms
        };
        assert_eq!(done.session.expires_at, w.now() + ttl);
        let caller = w
            .service
            .authenticate(done.session.token.expose_secret(), RequestMeta::default())
            .unwrap();
        assert_eq!(caller.user(), Some(w.alice));
        assert!(w.two_factor_on().await);

        // Single use: the same token (even with a later, valid code) grants nothing more.
        w.clock.advance_ms(STEP_MS);
        let code = code_at(&secret, w.now()).unwrap();
        let err = w
            .service
            .login_enrolling_second_factor(RequestMeta::default(), &token, &code)
            .await
            .unwrap_err();
        assert_invalid(err, "token.invalid");

        // From now on the login asks for a code.
        assert!(matches!(
            w.login(false).await,
            LoginOutcome::SecondFactorRequired { .. }
        ));
    }
}

#[tokio::test]
async fn an_expired_enrolment_token_grants_nothing() {
    let w = world(true).await;
    let (token, secret) = w.start_enrolment(true).await;
    w.clock.advance_ms(LOGIN_TOKEN_TTL_MS);
    let code = code_at(&secret, w.now()).unwrap();
    let err = w
        .service
        .login_enrolling_second_factor(RequestMeta::default(), &token, &code)
        .await
        .unwrap_err();
    assert_invalid(err, "token.invalid");
    assert!(!w.two_factor_on().await);
}

#[tokio::test]
async fn a_second_factor_token_cannot_enrol_or_sign_in_through_enrolment() {
    // A user who already has two-factor gets a second-factor token, which is not an
    // enrolment token.
    let w = world(true).await;
    let (token, secret) = w.start_enrolment(false).await;
    let code = code_at(&secret, w.now()).unwrap();
    w.service
        .login_enrolling_second_factor(RequestMeta::default(), &token, &code)
        .await
        .unwrap();
    let LoginOutcome::SecondFactorRequired { login_token, .. } = w.login(true).await else {
        panic!("two-factor is on");
    };
    w.clock.advance_ms(STEP_MS);
    let code = code_at(&secret, w.now()).unwrap();
    let err = w
        .service
        .login_enrolling_second_factor(RequestMeta::default(), login_token.expose_secret(), &code)
        .await
        .unwrap_err();
    assert_invalid(err, "token.invalid");
}

#[tokio::test]
async fn remember_me_is_carried_through_the_second_step() {
    for remember_me in [false, true] {
        let w = world(true).await;
        let (token, secret) = w.start_enrolment(false).await;
        let code = code_at(&secret, w.now()).unwrap();
        w.service
            .login_enrolling_second_factor(RequestMeta::default(), &token, &code)
            .await
            .unwrap();
        w.clock.advance_ms(STEP_MS);
        let LoginOutcome::SecondFactorRequired { login_token, .. } = w.login(remember_me).await
        else {
            panic!("two-factor is on");
        };
        let code = code_at(&secret, w.now()).unwrap();
        let LoginOutcome::Session(session) = w
            .service
            .login_second_factor(
                RequestMeta::default(),
                login_token.expose_secret(),
                Some(&code),
                None,
            )
            .await
            .unwrap()
        else {
            panic!("a current code completes the login");
        };
        assert_eq!(session.remember_me, remember_me);
    }
}

#[tokio::test]
async fn without_a_requirement_the_login_needs_no_enrolment() {
    let w = world(false).await;
    let LoginOutcome::Session(session) = w.login(true).await else {
        panic!("no two-factor anywhere: a session at once");
    };
    assert!(session.remember_me);
}
