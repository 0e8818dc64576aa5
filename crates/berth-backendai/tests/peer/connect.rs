//! Logging in both ways, and the errors a person gets for each way it can go wrong.

use std::sync::{Arc, Mutex};

use berth_backendai::{Connection, Credentials};
use berth_core::{Engine, ErrorCode};

use crate::*;

#[tokio::test]
async fn a_webserver_login_and_a_keypair_see_the_same_folders() {
    require_peer().await;
    let by_password = Connection::open(WEBSERVER, password()).await.unwrap();
    let by_keypair = Connection::open(MANAGER, keypair()).await.unwrap();
    for connection in [&by_password, &by_keypair] {
        assert_eq!(connection.server().api_version.to_string(), "v9.20250722");
        assert_eq!(connection.server().manager_version, "26.8.1");
    }
    let password_engine = BackendAiEngine::new("web", by_password);
    let keypair_engine = BackendAiEngine::new("api", by_keypair);
    let name = unique("both-ways");
    password_engine
        .create_folder(berth_core::NewFolder::named(&name))
        .await
        .unwrap();
    let seen_by_keypair = keypair_engine.list_folders().await.unwrap();
    assert!(
        seen_by_keypair.iter().any(|f| f.name == name),
        "a folder created through the webserver is listed through the manager"
    );
    keypair_engine.trash_folder(&name).await.unwrap();
    keypair_engine.purge_folder(&name).await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_and_a_wrong_secret_key_are_auth_failed() {
    require_peer().await;
    let wrong_password = Connection::open(
        WEBSERVER,
        Credentials::Password {
            email: EMAIL.into(),
            password: "not-the-password".into(),
            otp: None,
        },
    )
    .await
    .err()
    .expect("a wrong password is refused");
    assert_eq!(
        wrong_password.code,
        ErrorCode::AuthFailed,
        "{wrong_password}"
    );
    assert!(wrong_password.message.contains(EMAIL), "{wrong_password}");

    // An email login at the manager's address: the API-keypair login is what it takes.
    let at_manager = Connection::open(MANAGER, password())
        .await
        .err()
        .expect("the manager takes no email login");
    assert_eq!(at_manager.code, ErrorCode::AuthFailed, "{at_manager}");
    assert!(
        at_manager.message.contains("API keypair") && at_manager.message.contains("web server"),
        "{at_manager}"
    );

    let wrong_secret = Connection::open(
        MANAGER,
        Credentials::Keypair {
            access_key: ACCESS_KEY.into(),
            secret_key: "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlX".into(),
        },
    )
    .await
    .err()
    .expect("a wrong secret key is refused");
    assert_eq!(wrong_secret.code, ErrorCode::AuthFailed, "{wrong_secret}");
    assert!(
        !wrong_secret.message.contains("C8qnIo29EZ"),
        "the secret never appears in a message: {wrong_secret}"
    );
}

#[tokio::test]
async fn an_address_with_nothing_or_something_else_behind_it_is_named() {
    require_peer().await;
    // Nothing listens on port 9 (discard) on loopback here.
    let nothing = Connection::open("http://127.0.0.1:9", keypair())
        .await
        .err()
        .unwrap();
    assert_eq!(nothing.code, ErrorCode::Unreachable, "{nothing}");
    assert!(nothing.message.contains("127.0.0.1:9"), "{nothing}");

    // The storage proxy is a real HTTP server, but not a manager.
    let storage_proxy = Connection::open("http://127.0.0.1:6021", keypair())
        .await
        .err()
        .unwrap();
    assert_eq!(
        storage_proxy.code,
        ErrorCode::UnsupportedServer,
        "{storage_proxy}"
    );

    let typo = Connection::open("ftp://127.0.0.1:8081", keypair())
        .await
        .err()
        .unwrap();
    assert_eq!(typo.code, ErrorCode::InvalidInput, "{typo}");
}

#[tokio::test]
async fn an_expired_webserver_login_is_renewed_or_reported_as_expired() {
    require_peer().await;
    // What the renewal reads, as the keychain entry would be: the test changes it to play a
    // password changed elsewhere.
    let saved = Arc::new(Mutex::new(password()));
    let source = {
        let saved = saved.clone();
        Arc::new(move || Some(saved.lock().unwrap().clone()))
    };
    let connection = Connection::open_renewing(WEBSERVER, password(), source)
        .await
        .unwrap();
    let engine = BackendAiEngine::new("renewing", connection);
    let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let told = told.clone();
        engine.connection().on_login_expired(Arc::new(move || {
            told.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    engine.list_hosts().await.unwrap();

    // The server forgets the login (as after its session lifetime): the next call renews it.
    engine.connection().logout().await.unwrap();
    let hosts = engine.list_hosts().await.expect("renewed transparently");
    assert!(hosts.iter().any(|h| h.id == "local:volume1"), "{hosts:?}");
    assert_eq!(
        told.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "renewed: nobody asked"
    );

    // Forgotten again, and the saved password no longer works: the screen must ask.
    engine.connection().logout().await.unwrap();
    *saved.lock().unwrap() = Credentials::Password {
        email: EMAIL.into(),
        password: "changed-elsewhere".into(),
        otp: None,
    };
    let expired = engine.list_hosts().await.err().unwrap();
    assert_eq!(expired.code, ErrorCode::LoginExpired, "{expired}");
    assert_eq!(
        told.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the app is told once, to ask for the password"
    );

    // The re-login dialog logs in again and the same engine (the open screens) goes on.
    engine.connection().login(&password()).await.unwrap();
    engine.list_hosts().await.unwrap();
}

/// A server that answers every request like a Backend.AI 23.09 manager: the real peer cannot
/// be made older, so this STAND-IN plays the one thing that matters here, its announcement.
async fn old_manager() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0u8; 4096];
            let _ = stream.read(&mut request).await;
            let body = r#"{"version": "v7.20230615", "manager": "23.09.10"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    address
}

#[tokio::test]
async fn a_manager_older_than_24_03_is_named_with_its_version() {
    let address = old_manager().await;
    let error = Connection::open(&address, keypair()).await.err().unwrap();
    assert_eq!(error.code, ErrorCode::UnsupportedServer, "{error}");
    assert!(error.message.contains("23.09.10"), "{error}");
    assert!(error.message.contains("24.03"), "{error}");
}
