//! The people who will sign in to the web app, through the engine on a running node: the
//! first start's owner link (once), sign-in with argon2id passwords, invitations with a role,
//! password resets that sign out everywhere.

mod common;

use common::*;
use facteur_engine::people::PeopleError;
use facteur_store::people::Role;

#[tokio::test]
async fn owner_link_sign_in_invitation_and_reset() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let app = &node.running.app;
    let store = &app.store;
    let now = facteur::time::now_ms();
    let account = store.account_by_key(&node.api_key).await.unwrap().unwrap();

    // No one yet: an owner link, used once; a made-up one is refused.
    let link = app.owner_link(now).await.unwrap().expect("an owner link");
    assert!(matches!(
        app.create_owner("made-up", "owner@example.com", "O", "a long password", now)
            .await,
        Err(PeopleError::BadLink)
    ));
    let owner = app
        .create_owner(&link, "Owner@Example.com", "Olive", "a long password", now)
        .await
        .unwrap();
    assert_eq!(owner.user.email, "owner@example.com");
    assert_eq!(
        store.memberships(owner.user.id).await.unwrap(),
        vec![(account.id, Role::Owner)]
    );
    let s = store.session(&owner.token, now).await.unwrap().unwrap();
    assert_eq!(s.csrf, owner.session.csrf);
    assert_eq!(
        app.owner_link(now).await.unwrap(),
        None,
        "only before anyone exists"
    );
    assert!(matches!(
        app.create_owner(&link, "x@example.com", "X", "a long password", now)
            .await,
        Err(PeopleError::BadLink)
    ));

    // Sign-in: the same refusal for a wrong password and an unknown address.
    for (email, pw) in [
        ("owner@example.com", "not the password"),
        ("nobody@example.com", "a long password"),
    ] {
        assert!(matches!(
            app.sign_in(email, pw, "127.0.0.1", "test", now).await,
            Err(PeopleError::BadCredentials)
        ));
    }
    let again = app
        .sign_in(
            "OWNER@example.com",
            "a long password",
            "127.0.0.1",
            "test",
            now,
        )
        .await
        .unwrap();
    assert_ne!(again.token, owner.token);

    // An invitation as a Marketer.
    let invite = app
        .invite(account.id, "mara@example.net", Role::Marketer, now)
        .await
        .unwrap();
    assert!(matches!(
        app.accept_invitation(&invite, "Mara", "short", now).await,
        Err(PeopleError::Invalid(_))
    ));
    let mara = app
        .accept_invitation(&invite, "Mara", "marketing rules", now)
        .await
        .unwrap();
    assert_eq!(
        store.memberships(mara.user.id).await.unwrap(),
        vec![(account.id, Role::Marketer)]
    );
    assert!(matches!(
        app.accept_invitation(&invite, "Mara", "marketing rules", now)
            .await,
        Err(PeopleError::BadLink)
    ));

    // A reset: the new password works, the old one and every session do not.
    assert_eq!(
        app.reset_link("stranger@example.com", now).await.unwrap(),
        None
    );
    let reset = app
        .reset_link("owner@example.com", now)
        .await
        .unwrap()
        .unwrap();
    app.reset_password(&reset, "a new long password", now)
        .await
        .unwrap();
    assert_eq!(store.session(&owner.token, now).await.unwrap(), None);
    assert_eq!(store.session(&again.token, now).await.unwrap(), None);
    assert!(
        app.sign_in("owner@example.com", "a long password", "", "", now)
            .await
            .is_err()
    );
    let back = app
        .sign_in("owner@example.com", "a new long password", "", "", now)
        .await
        .unwrap();
    assert!(matches!(
        app.reset_password(&reset, "yet another password", now)
            .await,
        Err(PeopleError::BadLink)
    ));
    // Signing out everywhere.
    assert_eq!(store.end_sessions_of(back.user.id).await.unwrap(), 1);
    assert_eq!(store.session(&back.token, now).await.unwrap(), None);
    node.running.stop().await;
}
