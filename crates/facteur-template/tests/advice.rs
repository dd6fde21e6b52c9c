//! Content advice: a table of small templates with known problems and the exact set of codes
//! each must produce, the starter templates, and hostile input.

use std::collections::BTreeSet;

use facteur_template::advice::{self, Advice, CODES, Input, Severity, check, to_json};
use facteur_template::starters::ALL;
use facteur_template::{Context, Mode, Template, mjml};

/// A well-built English marketing email: preheader, button near the top, centred and
/// contrasted, one image with alt text, enough text, an unsubscribe link.
const GOOD_EN: &str = r##"<!doctype html>
<html lang="en">
<head><title>Spring at Example Shop</title><style>p { margin: 0 0 12px; }</style></head>
<body style="margin:0;background-color:#f4f4f4">
<div style="display:none;font-size:1px;color:#f4f4f4;max-height:0;overflow:hidden">Twenty percent off every spring jacket until Sunday</div>
<table role="presentation" width="600" align="center" style="background-color:#ffffff">
<tr><td style="padding:24px;font-family:Arial,sans-serif;font-size:16px;color:#222222">
<h1 style="font-size:24px">Spring is here</h1>
<p>Hello Ada, our spring jackets have arrived: light, waterproof and made to last for years of walks in the rain.</p>
</td></tr>
<tr><td align="center" style="padding:0 24px 24px">
<table role="presentation"><tr><td bgcolor="#0b5394" style="border-radius:4px"><a href="https://shop.example.com/spring" style="color:#ffffff;display:inline-block;padding:12px 24px;font-family:Arial,sans-serif;font-size:16px;font-weight:bold;text-decoration:none">Shop the collection</a></td></tr></table>
</td></tr>
<tr><td style="padding:0 24px;font-family:Arial,sans-serif;font-size:16px;color:#222222">
<img src="https://cdn.example.com/spring/jackets.jpg" width="552" height="300" alt="Three spring jackets on a coat rack" style="display:block;width:100%;height:auto">
<p>Every jacket is cut from recycled fabric and sewn in Portugal by a workshop we have known for ten years. The seams are taped, the zips are sturdy and the hoods fold away into the collar when the sun comes back.</p>
<p>Until Sunday, every jacket is twenty percent off with free delivery and free returns for thirty days. Our advisers answer your questions about sizes and care by email, seven days a week, from nine in the morning to seven in the evening.</p>
<p>Read our guide to choosing the right size, with measurements for every model, on our <a href="https://www.example.com/guides/sizes" style="color:#0b5394">size guide page</a>.</p>
</td></tr>
<tr><td align="center" style="padding:24px;font-family:Arial,sans-serif;font-size:12px;color:#555555">Example Shop, 1 rue de la Paix, 75002 Paris. <a href="https://shop.example.com/u/abc123" style="color:#555555">Unsubscribe</a></td></tr>
</table>
</body>
</html>
"##;

/// The same email in French.
const GOOD_FR: &str = r##"<!doctype html>
<html lang="fr">
<head><title>Le printemps chez Example</title></head>
<body style="margin:0;background-color:#f4f4f4">
<div style="display:none;max-height:0;overflow:hidden">Vingt pour cent sur toutes les vestes de printemps jusqu&#39;à dimanche</div>
<table role="presentation" width="600" align="center" style="background-color:#ffffff">
<tr><td style="padding:24px;font-family:Arial,sans-serif;font-size:16px;color:#222222">
<h1 style="font-size:24px">Le printemps est là</h1>
<p>Bonjour Ada, nos vestes de printemps sont arrivées : légères, imperméables et faites pour durer des années de promenades sous la pluie.</p>
</td></tr>
<tr><td align="center" style="padding:0 24px 24px">
<table role="presentation"><tr><td bgcolor="#0b5394" style="border-radius:4px"><a href="https://boutique.example.fr/printemps" style="color:#ffffff;display:inline-block;padding:12px 24px;font-size:16px;font-weight:bold;text-decoration:none">D&eacute;couvrez la collection</a></td></tr></table>
</td></tr>
<tr><td style="padding:0 24px;font-family:Arial,sans-serif;font-size:16px;color:#222222">
<img src="https://cdn.example.fr/printemps/vestes.jpg" width="552" height="300" alt="Trois vestes de printemps sur un portant">
<p>Chaque veste est coupée dans un tissu recyclé et cousue au Portugal par un atelier que nous connaissons depuis dix ans. Les coutures sont étanches, les fermetures solides et la capuche se range dans le col quand le soleil revient.</p>
<p>Jusqu'à dimanche, toutes les vestes sont à moins vingt pour cent, avec la livraison gratuite et trente jours pour changer d'avis. Nos conseillers répondent à vos questions sur les tailles et l'entretien par courriel, sept jours sur sept, de neuf heures à dix-neuf heures.</p>
</td></tr>
<tr><td align="center" style="padding:24px;font-size:12px;color:#555555">Example, 1 rue de la Paix, 75002 Paris. <a href="[[UNSUB_LINK_FR]]" style="color:#555555">Se désinscrire</a></td></tr>
</table>
</body>
</html>
"##;

const BUTTON_EN: &str = r##"<a href="https://shop.example.com/spring" style="color:#ffffff;display:inline-block;padding:12px 24px;font-family:Arial,sans-serif;font-size:16px;font-weight:bold;text-decoration:none">Shop the collection</a>"##;
const PREHEADER_EN: &str = r#"<div style="display:none;font-size:1px;color:#f4f4f4;max-height:0;overflow:hidden">Twenty percent off every spring jacket until Sunday</div>"#;
const IMAGE_EN: &str = r#"<img src="https://cdn.example.com/spring/jackets.jpg" width="552" height="300" alt="Three spring jackets on a coat rack" style="display:block;width:100%;height:auto">"#;
const UNSUB_EN: &str =
    r#"<a href="https://shop.example.com/u/abc123" style="color:#555555">Unsubscribe</a>"#;
const SIZE_LINK_EN: &str =
    r#"<a href="https://www.example.com/guides/sizes" style="color:#0b5394">size guide page</a>"#;
const BUTTON_CELL_EN: &str = r#"<td align="center" style="padding:0 24px 24px">"#;
const BUTTON_FR_TEXT: &str = "D&eacute;couvrez la collection";

/// One line of the table: a template made from `base` with `edits` (each must apply), checked
/// with `input`'s other fields, and the exact codes it must give.
struct Case {
    name: &'static str,
    base: &'static str,
    edits: &'static [(&'static str, &'static str)],
    subject: Option<&'static str>,
    locale: Option<&'static str>,
    marketing: bool,
    blocklist: &'static [&'static str],
    sender: Option<&'static str>,
    expect: &'static [&'static str],
}

const EN: Case = Case {
    name: "",
    base: GOOD_EN,
    edits: &[],
    subject: Some("Spring jackets: 20% off until Sunday"),
    locale: Some("en-GB"),
    marketing: true,
    blocklist: &["spam.example"],
    sender: Some("example.com"),
    expect: &[],
};

const FR: Case = Case {
    base: GOOD_FR,
    subject: Some("Vestes de printemps : -20 % jusqu'à dimanche"),
    locale: Some("fr"),
    sender: Some("example.fr"),
    ..EN
};

fn build(case: &Case) -> String {
    let mut html = case.base.to_string();
    for (from, to) in case.edits {
        assert!(
            html.contains(from),
            "{}: edit {from:?} does not apply",
            case.name
        );
        html = html.replacen(from, to, 1);
    }
    html
}

fn codes(advice: &[Advice]) -> BTreeSet<&'static str> {
    advice.iter().map(|a| a.code).collect()
}

fn run(case: &Case) -> Vec<Advice> {
    let html = build(case);
    check(&Input {
        html: &html,
        subject: case.subject,
        locale: case.locale,
        marketing: case.marketing,
        blocklist: case.blocklist,
        sender_domain: case.sender,
    })
}

fn table() -> Vec<Case> {
    vec![
        Case {
            name: "clean English email",
            ..EN
        },
        Case {
            name: "clean French email",
            ..FR
        },
        Case {
            name: "clean, no subject given, transactional",
            subject: None,
            marketing: false,
            sender: None,
            ..EN
        },
        // 1. Text and images.
        Case {
            name: "one big image and a few words",
            edits: &[(
                IMAGE_EN,
                r#"<img src="https://cdn.example.com/spring/poster.jpg" width="600" height="1800" alt="Spring sale poster">"#,
            )],
            expect: &["image-only"],
            ..EN
        },
        Case {
            name: "images dominate",
            edits: &[(
                IMAGE_EN,
                r#"<img src="https://cdn.example.com/a.jpg" width="552" height="400" alt="Jacket A"><img src="https://cdn.example.com/b.jpg" width="552" height="400" alt="Jacket B">"#,
            )],
            expect: &["text-image-ratio"],
            ..EN
        },
        Case {
            name: "an image without dimensions counts as 300 x 200",
            edits: &[(
                IMAGE_EN,
                r#"<img src="https://cdn.example.com/a.jpg" alt="Jacket A">"#,
            )],
            ..EN
        },
        // 2. Weight.
        Case {
            name: "a data: image",
            edits: &[(
                IMAGE_EN,
                r#"<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==" width="48" height="48" alt="Logo">"#,
            )],
            expect: &["image-data-uri"],
            ..EN
        },
        Case {
            name: "an image declared wider than the email",
            edits: &[(
                IMAGE_EN,
                r#"<img src="https://cdn.example.com/spring/jackets.jpg" width="1200" height="600" alt="Three spring jackets">"#,
            )],
            expect: &["image-wide"],
            ..EN
        },
        Case {
            name: "31 small icons",
            edits: &[(
                "<p>Every jacket",
                "<img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><p>Every jacket",
            )],
            expect: &["too-many-images"],
            ..EN
        },
        Case {
            name: "30 small icons are fine, and hidden ones and spacers do not count",
            edits: &[(
                "<p>Every jacket",
                "<img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><img src=https://cdn.example.com/i.png width=16 height=16 alt=i><div style=display:none><img src=https://cdn.example.com/m.png width=16 height=16 alt=m></div><img src=https://t.example.com/o.gif width=1 height=1 alt=''><p>Every jacket",
            )],
            ..EN
        },
        // 3. Calls to action.
        Case {
            name: "no button in a marketing email",
            edits: &[(BUTTON_EN, "")],
            expect: &["cta-missing"],
            ..EN
        },
        Case {
            name: "an underlined text link is not a button",
            edits: &[
                (
                    BUTTON_EN,
                    r#"<a href="https://shop.example.com/spring">Shop the collection</a>"#,
                ),
                (r##" bgcolor="#0b5394""##, ""),
            ],
            expect: &["cta-missing"],
            ..EN
        },
        Case {
            name: "a plain link alone in a coloured cell is a button",
            edits: &[(
                BUTTON_EN,
                r#"<a href="https://shop.example.com/spring" style="color:#ffffff">Shop the collection</a>"#,
            )],
            ..EN
        },
        Case {
            name: "a coloured cell with text besides the link is not a button",
            edits: &[(
                BUTTON_EN,
                r#"Our shop: <a href="https://shop.example.com/spring" style="color:#ffffff">Shop the collection</a>"#,
            )],
            expect: &["cta-missing"],
            ..EN
        },
        Case {
            name: "a button made with a class counts",
            edits: &[(
                BUTTON_EN,
                r#"<a href="https://shop.example.com/spring" class="btn btn-primary">Shop the collection</a>"#,
            )],
            ..EN
        },
        Case {
            name: "three buttons with different wordings",
            edits: &[(
                "<p>Until Sunday",
                r#"<p><a href="https://shop.example.com/a" style="background-color:#0b5394;color:#ffffff;padding:8px">Compare the models</a> <a href="https://shop.example.com/b" style="background-color:#0b5394;color:#ffffff;padding:8px">Book a fitting</a></p><p>Until Sunday"#,
            )],
            expect: &["cta-competing"],
            ..EN
        },
        Case {
            name: "the same button twice does not compete",
            edits: &[(
                "<p>Until Sunday",
                r#"<p><a href="https://shop.example.com/a" style="background-color:#0b5394;color:#ffffff;padding:8px">Shop the collection</a> <a href="https://shop.example.com/b" style="background-color:#0b5394;color:#ffffff;padding:8px">Shop the collection</a></p><p>Until Sunday"#,
            )],
            ..EN
        },
        Case {
            name: "the only button at the very end",
            edits: &[
                (BUTTON_EN, ""),
                (
                    "<p>Read our guide",
                    concat!(
                        "<p>Our jackets come in six colours and eight sizes, from extra small to ",
                        "four times extra large, and each model has a matching pair of trousers.</p>",
                        r##"<p align="center"><a href="https://shop.example.com/spring" style="background:#0b5394;color:#ffffff;padding:12px 24px;font-size:16px">Shop the collection</a></p>"##,
                        "<p>Read our guide"
                    ),
                ),
            ],
            expect: &["cta-low"],
            ..EN
        },
        Case {
            name: "a left-aligned button",
            edits: &[(
                BUTTON_CELL_EN,
                r#"<td align="left" style="padding:0 24px 24px">"#,
            )],
            expect: &["cta-not-centered"],
            ..EN
        },
        Case {
            name: "a button centred by its table's margin",
            edits: &[
                (BUTTON_CELL_EN, r#"<td style="padding:0 24px 24px">"#),
                (
                    r#"<table role="presentation"><tr><td bgcolor"#,
                    r#"<table role="presentation" style="margin:0 auto"><tr><td bgcolor"#,
                ),
            ],
            ..EN
        },
        // 4. Wording.
        Case {
            name: "a long button text",
            edits: &[(
                "Shop the collection</a></td>",
                "Shop the whole new spring collection today</a></td>",
            )],
            expect: &["cta-too-long"],
            ..EN
        },
        Case {
            name: "a button text without a verb",
            edits: &[("Shop the collection</a></td>", "Spring collection</a></td>")],
            expect: &["cta-no-verb"],
            ..EN
        },
        Case {
            name: "the same text in German is not judged",
            edits: &[(
                "Shop the collection</a></td>",
                "Frühlingskollektion</a></td>",
            )],
            locale: Some("de-DE"),
            ..EN
        },
        Case {
            name: "click here",
            edits: &[("Shop the collection</a></td>", "Click here</a></td>")],
            expect: &["cta-vague"],
            ..EN
        },
        Case {
            name: "a text link reading 'here'",
            edits: &[("size guide page</a>", "here</a>")],
            expect: &["cta-vague"],
            ..EN
        },
        // 5. Contrast.
        Case {
            name: "white on teal",
            edits: &[(r##"bgcolor="#0b5394""##, r##"bgcolor="#00a8a8""##)],
            expect: &["cta-contrast"],
            ..EN
        },
        Case {
            name: "white on yellow, by names",
            edits: &[
                (r##"bgcolor="#0b5394""##, r#"bgcolor="yellow""#),
                ("color:#ffffff;display", "color:white;display"),
            ],
            expect: &["cta-contrast"],
            ..EN
        },
        Case {
            name: "light grey on white, rgb() on the link itself",
            edits: &[(
                "color:#ffffff;display:inline-block",
                "color:rgb(170, 170, 170);background-color:#fff;display:inline-block",
            )],
            expect: &["cta-contrast"],
            ..EN
        },
        Case {
            name: "4.1:1 fails for 16 px text...",
            edits: &[
                (r##"bgcolor="#0b5394""##, r##"bgcolor="#d35400""##),
                ("font-weight:bold;", ""),
            ],
            expect: &["cta-contrast"],
            ..EN
        },
        Case {
            name: "...and passes for 24 px text",
            edits: &[
                (r##"bgcolor="#0b5394""##, r##"bgcolor="#d35400""##),
                ("font-size:16px;font-weight:bold", "font-size:24px"),
            ],
            ..EN
        },
        Case {
            name: "colours that cannot be read are not judged",
            edits: &[
                (
                    r##"bgcolor="#0b5394""##,
                    r#"bgcolor="{{ var:brand_colour }}""#,
                ),
                ("color:#ffffff;display", "color:#zzz;display"),
            ],
            ..EN
        },
        // 6. Preheader.
        Case {
            name: "no preheader",
            edits: &[(PREHEADER_EN, "")],
            expect: &["preheader-missing"],
            ..EN
        },
        Case {
            name: "a preheader after the visible text does not count",
            edits: &[
                (PREHEADER_EN, ""),
                (
                    "</table>\n</body>",
                    concat!(
                        "</table>",
                        r#"<div style="display:none">Late preview</div>"#,
                        "\n</body>"
                    ),
                ),
            ],
            expect: &["preheader-missing"],
            ..EN
        },
        Case {
            name: "two preheaders",
            edits: &[(
                PREHEADER_EN,
                concat!(
                    r#"<div style="display:none">Twenty percent off</div>"#,
                    r#"<div style="display:none;max-height:0;overflow:hidden">Every spring jacket until Sunday</div>"#
                ),
            )],
            expect: &["preheader-duplicate"],
            ..EN
        },
        Case {
            name: "a preheader followed by invisible filler",
            edits: &[(
                PREHEADER_EN,
                concat!(
                    r#"<div style="display:none">Twenty percent off every spring jacket</div>"#,
                    r#"<div style="display:none">&#847; &zwnj; &nbsp; &#847; &zwnj; &nbsp;</div>"#
                ),
            )],
            ..EN
        },
        Case {
            name: "a preheader that repeats the subject",
            subject: Some("Twenty percent off every spring jacket until Sunday!"),
            expect: &["preheader-same-as-subject"],
            ..EN
        },
        // 7. Subject.
        Case {
            name: "an empty subject",
            subject: Some("  "),
            expect: &["subject-missing"],
            ..EN
        },
        Case {
            name: "a long subject",
            subject: Some(
                "Our spring jackets are here and they are twenty percent off until Sunday",
            ),
            expect: &["subject-too-long"],
            ..EN
        },
        Case {
            name: "a short subject",
            subject: Some("Jackets"),
            expect: &["subject-too-short"],
            ..EN
        },
        Case {
            name: "a placeholder counts as its default",
            subject: Some("{{ var:firstname:'Ada' }}, jackets are 20% off until Sunday"),
            ..EN
        },
        Case {
            name: "a subject in capitals",
            subject: Some("SPRING JACKETS 20% OFF"),
            expect: &["subject-all-caps"],
            ..EN
        },
        Case {
            name: "a subject with exclamation marks",
            subject: Some("Spring jackets are here!!!"),
            expect: &["subject-exclamation"],
            ..EN
        },
        // 8. Unsubscribe.
        Case {
            name: "no unsubscribe link in a marketing email",
            edits: &[(UNSUB_EN, "")],
            expect: &["unsubscribe-missing"],
            ..EN
        },
        Case {
            name: "no unsubscribe link in a transactional email",
            edits: &[(UNSUB_EN, "")],
            marketing: false,
            ..EN
        },
        Case {
            name: "an unsubscribe link that goes nowhere",
            edits: &[(UNSUB_EN, r##"<a href="#">Unsubscribe</a>"##)],
            expect: &["unsubscribe-missing", "link-empty"],
            ..EN
        },
        Case {
            name: "Mailjet's placeholder, in a French email",
            base: GOOD_FR,
            edits: &[(
                r#"<a href="[[UNSUB_LINK_FR]]" style="color:#555555">Se désinscrire</a>"#,
                r#"<a href="{{mj:unsub_link}}">Gérer mes abonnements</a>"#,
            )],
            ..FR
        },
        Case {
            name: "a French link text",
            base: GOOD_FR,
            edits: &[(
                r#"href="[[UNSUB_LINK_FR]]""#,
                r#"href="https://boutique.example.fr/preferences?x=1""#,
            )],
            ..FR
        },
        // 9. Links.
        Case {
            name: "a link to a subdomain of a blocklisted domain",
            edits: &[(
                SIZE_LINK_EN,
                r#"<a href="https://promo.spam.example/sizes">size guide page</a>"#,
            )],
            expect: &["link-blocklisted"],
            ..EN
        },
        Case {
            name: "a domain that only ends like a blocklisted one",
            edits: &[(
                SIZE_LINK_EN,
                r#"<a href="https://notspam.example/sizes">size guide page</a>"#,
            )],
            ..EN
        },
        Case {
            name: "an image from a blocklisted domain",
            edits: &[(
                "https://cdn.example.com/spring/jackets.jpg",
                "https://img.spam.example/jackets.jpg",
            )],
            expect: &["link-blocklisted"],
            ..EN
        },
        Case {
            name: "a link showing another domain",
            edits: &[(
                SIZE_LINK_EN,
                r#"<a href="https://login.attacker.example.net/x">www.example.com</a>"#,
            )],
            expect: &["link-text-mismatch"],
            ..EN
        },
        Case {
            name: "a link showing its own domain",
            edits: &[(
                SIZE_LINK_EN,
                r#"<a href="https://www.example.com/guides/sizes">example.com/guides</a>"#,
            )],
            ..EN
        },
        Case {
            name: "an http link",
            edits: &[(
                "https://www.example.com/guides/sizes",
                "http://www.example.com/guides/sizes",
            )],
            expect: &["link-insecure"],
            ..EN
        },
        Case {
            name: "empty links",
            edits: &[(
                SIZE_LINK_EN,
                r##"<a href="#">size guide page</a> and <a href="">sizes</a>"##,
            )],
            expect: &["link-empty"],
            ..EN
        },
        Case {
            name: "a shortened link",
            edits: &[(
                "https://www.example.com/guides/sizes",
                "https://bit.ly/3xYz",
            )],
            expect: &["link-shortener"],
            ..EN
        },
        Case {
            name: "template placeholders in links are not judged",
            edits: &[
                (
                    "https://www.example.com/guides/sizes",
                    "{{ var:sizes_url:'#' }}",
                ),
                ("https://shop.example.com/spring", "[[var:shop_url]]"),
                (
                    "https://shop.example.com/u/abc123",
                    "{% if var:x %}https://a{% else %}#{% endif %}/u/",
                ),
            ],
            ..EN
        },
        Case {
            name: "no link to the sender's site",
            sender: Some("example.org"),
            expect: &["link-no-sender-domain"],
            ..EN
        },
        // 10. Alt text.
        Case {
            name: "an image without alt",
            edits: &[(r#" alt="Three spring jackets on a coat rack""#, "")],
            expect: &["image-missing-alt"],
            ..EN
        },
        Case {
            name: "a content image with an empty alt",
            edits: &[(
                r#" alt="Three spring jackets on a coat rack""#,
                r#" alt="""#,
            )],
            expect: &["image-empty-alt"],
            ..EN
        },
        Case {
            name: "a spacer with an empty alt",
            edits: &[(
                "<p>Every jacket",
                r#"<img src="https://cdn.example.com/s.gif" width="1" height="10" alt=""><p>Every jacket"#,
            )],
            ..EN
        },
        // French wording.
        Case {
            name: "French: an infinitive",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "Réserver ma veste")],
            ..FR
        },
        Case {
            name: "French: a reflexive imperative",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "Inscrivez-vous")],
            ..FR
        },
        Case {
            name: "French: first person",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "J’en profite")],
            ..FR
        },
        Case {
            name: "French: s'inscrire",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "S&#39;inscrire")],
            ..FR
        },
        Case {
            name: "French: no verb",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "Nouvelle collection")],
            expect: &["cta-no-verb"],
            ..FR
        },
        Case {
            name: "French: an English verb is not French",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "Shop now")],
            expect: &["cta-no-verb"],
            ..FR
        },
        Case {
            name: "French: cliquez ici",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "Cliquez ici")],
            expect: &["cta-vague"],
            ..FR
        },
        Case {
            name: "French: too long",
            base: GOOD_FR,
            edits: &[(
                BUTTON_FR_TEXT,
                "Découvrez toute la nouvelle collection de printemps",
            )],
            expect: &["cta-too-long"],
            ..FR
        },
        Case {
            name: "French: no preheader, a subject in capitals",
            base: GOOD_FR,
            edits: &[(
                r#"<div style="display:none;max-height:0;overflow:hidden">Vingt pour cent sur toutes les vestes de printemps jusqu&#39;à dimanche</div>"#,
                "",
            )],
            subject: Some("SOLDES DE PRINTEMPS : -20 % !!"),
            expect: &[
                "preheader-missing",
                "subject-all-caps",
                "subject-exclamation",
            ],
            ..FR
        },
        Case {
            name: "French: no unsubscribe link, a blocklisted link and an http one",
            base: GOOD_FR,
            edits: &[
                (
                    r#"<a href="[[UNSUB_LINK_FR]]" style="color:#555555">Se désinscrire</a>"#,
                    "",
                ),
                (
                    "Nos conseillers",
                    r#"<a href="http://www.spam.example/">Nos conseillers</a>"#,
                ),
            ],
            expect: &["unsubscribe-missing", "link-blocklisted", "link-insecure"],
            ..FR
        },
        Case {
            name: "no locale: English and French verbs both count",
            base: GOOD_FR,
            edits: &[(BUTTON_FR_TEXT, "Shop now")],
            locale: None,
            ..FR
        },
    ]
}

#[test]
fn each_template_gives_exactly_its_advice() {
    let mut failures = Vec::new();
    for case in table() {
        let advice = run(&case);
        let got = codes(&advice);
        let want: BTreeSet<&str> = case.expect.iter().copied().collect();
        if got != want {
            failures.push(format!(
                "{}: expected {want:?}, got {got:?}\n{advice:#?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_table_covers_every_code() {
    let mut covered: BTreeSet<&str> = table()
        .iter()
        .flat_map(|c| c.expect.iter().copied())
        .collect();
    // Covered by their own tests below.
    covered.extend(["html-size", "analysis-partial"]);
    let all: BTreeSet<&str> = CODES.iter().copied().collect();
    assert_eq!(all.len(), CODES.len(), "a code is listed twice");
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(missing.is_empty(), "codes without a test: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/templates.md"
    ))
    .expect("docs/templates.md");
    let section = doc
        .split("## Content advice")
        .nth(1)
        .expect("a Content advice section");
    for code in CODES {
        assert!(
            section.contains(&format!("`{code}`")),
            "{code} is not documented"
        );
    }
}

#[test]
fn severities_and_elements() {
    let case = Case {
        name: "several problems",
        edits: &[
            (r#" alt="Three spring jackets on a coat rack""#, ""),
            (UNSUB_EN, ""),
            ("Shop the collection</a></td>", "Click here</a></td>"),
        ],
        subject: Some(""),
        ..EN
    };
    let advice = run(&case);
    // Errors first, then warnings, then info.
    let ranks: Vec<Severity> = advice.iter().map(|a| a.severity).collect();
    let mut sorted = ranks.clone();
    sorted.sort();
    assert_eq!(ranks, sorted);
    let by = |code: &str| {
        advice
            .iter()
            .find(|a| a.code == code)
            .unwrap_or_else(|| panic!("{code} in {advice:#?}"))
    };
    assert_eq!(by("subject-missing").severity, Severity::Error);
    assert_eq!(by("unsubscribe-missing").severity, Severity::Error);
    let alt = by("image-missing-alt");
    assert_eq!(alt.severity, Severity::Warning);
    assert_eq!(
        alt.element.as_deref(),
        Some(r#"<img src="https://cdn.example.com/spring/jackets.jpg">"#)
    );
    assert_eq!(alt.line, Some(15), "the line of the <img>");
    let vague = by("cta-vague");
    assert_eq!(
        vague.element.as_deref(),
        Some(r#"<a href="https://shop.example.com/spring">Click here</a>"#)
    );
    assert_eq!(vague.line, Some(12));
    assert!(
        vague.message.contains("\"Click here\""),
        "{}",
        vague.message
    );

    // No CTA: a warning in marketing, info otherwise.
    let html = build(&Case {
        name: "no button",
        edits: &[(BUTTON_EN, "")],
        ..EN
    });
    let severity = |marketing| {
        check(&Input {
            html: &html,
            marketing,
            ..Input::default()
        })
        .into_iter()
        .find(|a| a.code == "cta-missing")
        .map(|a| a.severity)
    };
    assert_eq!(severity(true), Some(Severity::Warning));
    assert_eq!(severity(false), Some(Severity::Info));
}

#[test]
fn contrast_message_gives_the_ratio() {
    let advice = run(&Case {
        name: "white on teal",
        edits: &[(r##"bgcolor="#0b5394""##, r##"bgcolor="#00A8A8""##)],
        ..EN
    });
    let a = advice
        .iter()
        .find(|a| a.code == "cta-contrast")
        .expect("cta-contrast");
    assert!(
        a.message.contains("#ffffff")
            && a.message.contains("#00a8a8")
            && a.message.contains("2.9:1"),
        "{}",
        a.message
    );
    // Bold 16 px is not large text (WCAG: 14 pt bold is 18.66 px), bold 19 px is.
    let bold19 = run(&Case {
        name: "bold 19px",
        edits: &[
            (r##"bgcolor="#0b5394""##, r##"bgcolor="#d35400""##),
            (
                "font-size:16px;font-weight:bold",
                "font-size:19px;font-weight:700",
            ),
        ],
        ..EN
    });
    assert!(!codes(&bold19).contains("cta-contrast"), "{bold19:#?}");
}

#[test]
fn html_size() {
    let padding = format!("<!-- {} -->", "x".repeat(100_000));
    let html = GOOD_EN.replace("</body>", &format!("{padding}</body>"));
    let advice = check(&Input {
        html: &html,
        subject: EN.subject,
        locale: EN.locale,
        marketing: true,
        ..Input::default()
    });
    assert_eq!(codes(&advice), BTreeSet::from(["html-size"]), "{advice:#?}");
    let advice = check(&Input {
        html: GOOD_EN,
        subject: EN.subject,
        marketing: true,
        ..Input::default()
    });
    assert!(!codes(&advice).contains("html-size"));
}

#[test]
fn json_shape() {
    let advice = run(&Case {
        name: "json",
        subject: Some("Hi"),
        edits: &[(r#" alt="Three spring jackets on a coat rack""#, "")],
        ..EN
    });
    let json = to_json(&advice);
    let list = json.as_array().expect("an array");
    assert_eq!(list.len(), 2, "{json:#}");
    let alt = list
        .iter()
        .find(|a| a["Code"] == "image-missing-alt")
        .expect("image-missing-alt");
    assert_eq!(alt["Severity"], "warning");
    assert_eq!(alt["Line"], 15);
    assert!(alt["Element"].as_str().unwrap().starts_with("<img src="));
    assert!(alt["Message"].as_str().unwrap().contains("alt"));
    let subject = list
        .iter()
        .find(|a| a["Code"] == "subject-too-short")
        .expect("subject-too-short");
    assert_eq!(subject["Severity"], "info");
    assert!(subject["Element"].is_null() && subject["Line"].is_null());
    assert_eq!(Severity::Error.as_str(), "error");
    assert_eq!(Severity::Info.to_string(), "info");
}

#[test]
fn advice_per_code_is_capped() {
    let images: String = (0..50)
        .map(|i| format!(r#"<img src="https://cdn.example.com/{i}.png" width="10" height="10">"#))
        .collect();
    let html = GOOD_EN.replace("<p>Every jacket", &format!("{images}<p>Every jacket"));
    let advice = check(&Input {
        html: &html,
        ..Input::default()
    });
    assert_eq!(
        advice
            .iter()
            .filter(|a| a.code == "image-missing-alt")
            .count(),
        advice::MAX_PER_CODE
    );
    assert!(codes(&advice).contains("too-many-images"));
}

#[test]
fn elements_are_short() {
    let long = format!("https://shop.example.com/{}/end.png", "a".repeat(500));
    let html = format!(
        r#"<p>text</p><img src="{long}"><a href="{long}">{}</a>"#,
        "word ".repeat(100)
    );
    for a in check(&Input {
        html: &html,
        ..Input::default()
    }) {
        if let Some(e) = &a.element {
            assert!(e.chars().count() <= 80, "{e}");
        }
    }
    let alt = check(&Input {
        html: &html,
        ..Input::default()
    })
    .into_iter()
    .find(|a| a.code == "image-missing-alt")
    .unwrap();
    let e = alt.element.unwrap();
    assert!(
        e.starts_with("<img src=\"https://shop.example.com/")
            && e.contains('…')
            && e.ends_with("end.png\">"),
        "{e}"
    );
}

/// The starters' context: their test values, and the unsubscribe link a send provides.
fn render_starter(html: &str, test_values: &str) -> String {
    let values: serde_json::Value = serde_json::from_str(test_values).unwrap();
    let mj = serde_json::json!({"unsub_link": "https://example.com/u/abc"});
    let ctx = Context {
        vars: &values["Variables"],
        data: &values["data"],
        mj: &mj,
        ..Context::default()
    };
    Template::parse(html)
        .and_then(|t| t.render(&ctx, Mode::Html))
        .unwrap()
}

#[test]
fn starters_get_sensible_advice() {
    for s in ALL {
        let compiled = mjml::to_html(s.mjml).unwrap().html;
        let rendered = render_starter(&compiled, s.test_values);
        for (what, html) in [("compiled", &compiled), ("rendered", &rendered)] {
            let advice = check(&Input {
                html,
                subject: Some("News from our team this month"),
                locale: Some("en"),
                marketing: true,
                blocklist: &[],
                sender_domain: None,
            });
            let got = codes(&advice);
            let name = format!("{} {what}", s.slug);
            // Each has a button, a preheader, an unsubscribe link, alt texts, no error.
            for code in [
                "cta-missing",
                "preheader-missing",
                "unsubscribe-missing",
                "image-missing-alt",
                "cta-no-verb",
                "cta-too-long",
                "cta-vague",
            ] {
                assert!(!got.contains(code), "{name}: {code}\n{advice:#?}");
            }
            assert!(
                advice.iter().all(|a| a.severity != Severity::Error),
                "{name}: {advice:#?}"
            );
            // What each one honestly gets.
            let mut want: BTreeSet<&str> = match s.slug {
                // Buttons set align="left" on purpose.
                "newsletter" => ["cta-not-centered"].into(),
                // White on #d35400 at 16 px is 4.1:1.
                "ecommerce" => ["cta-contrast"].into(),
                // White on #00a8a8 at 13 px is 2.9:1, and the trip buttons are left-aligned.
                "travel" => ["cta-contrast", "cta-not-centered"].into(),
                _ => BTreeSet::new(),
            };
            if s.slug == "travel" && what == "rendered" {
                // Two 250 px photos beside two short lines each, under a hero image.
                want.insert("text-image-ratio");
            }
            assert_eq!(got, want, "{name}: {advice:#?}");
            // Buttons in loops are judged once per wording and colours.
            assert!(
                advice.iter().filter(|a| a.code == "cta-contrast").count() <= 1,
                "{name}"
            );
        }
    }
}

#[test]
fn hostile_input_returns() {
    // Deeply nested.
    let deep = format!(
        "{}<a href=x style='background:#000;color:#111'>Buy</a>{}",
        "<div><table><tr><td>".repeat(20_000),
        "</td></tr></table></div>".repeat(20_000)
    );
    let advice = check(&Input {
        html: &deep,
        marketing: true,
        subject: Some("x"),
        ..Input::default()
    });
    assert!(codes(&advice).contains("analysis-partial"), "{advice:#?}");
    assert!(codes(&advice).contains("html-size"));

    // 1 MB of text, tags, broken colours, entities and placeholders.
    let mut big = String::from("<body>");
    while big.len() < 1_000_000 {
        big.push_str(r##"<td bgcolor="#12" style="background:rgb(300,-1,nan);color:rgba(1,2);font-size:9999999999999px;padding:;;;:"><a href="https://a.example/&#xFFFFFFFF;&#0;&amp" style="color:#ggg;background-color:hsl(1,2,3)">&#1114112;&zwnj;{{ x }}[[ y {% z </a></td><img width="-5" height="1e309" src="data:;base64,"><div style="display:none">"##);
    }
    let start = std::time::Instant::now();
    let advice = check(&Input {
        html: &big,
        subject: Some("!!!!!!!!"),
        locale: Some("\u{0}"),
        marketing: true,
        blocklist: &["", ".", "a.example"],
        sender_domain: Some(""),
    });
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert!(codes(&advice).contains("html-size"));
    assert!(advice.len() <= CODES.len() * advice::MAX_PER_CODE);

    // Many placeholders in one text and in the subject: linear, not quadratic.
    let placeholders = format!("<p>{}</p>", "{{x}}{%y%}".repeat(200_000));
    let subject = "{{ var:a:'b' }}".repeat(20_000);
    let start = std::time::Instant::now();
    let advice = check(&Input {
        html: &placeholders,
        subject: Some(&subject),
        ..Input::default()
    });
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(codes(&advice).contains("subject-too-long"));

    // Over the analysed size: the rest is skipped, and said so.
    let huge = "<p>é</p>".repeat(advice::MAX_ANALYSED_BYTES / 9 + 10);
    let advice = check(&Input {
        html: &huge,
        ..Input::default()
    });
    assert!(codes(&advice).contains("analysis-partial"));

    // Unclosed and stray tags, text outside any element, a lone '&'.
    for html in [
        "",
        "&",
        "<",
        "<a",
        "<a href",
        "</a></td></table>",
        "text only",
        "<img>",
        "<a href=\"",
        "<td bgcolor><a href=http://x>y",
        "<div style=\"display:none\">",
    ] {
        let _ = check(&Input {
            html,
            subject: Some(""),
            marketing: true,
            ..Input::default()
        });
    }
}

#[test]
fn many_elements_are_bounded() {
    let html = "<b></b>".repeat(advice::MAX_ELEMENTS + 10);
    let advice = check(&Input {
        html: &html,
        ..Input::default()
    });
    assert!(codes(&advice).contains("analysis-partial"), "{advice:#?}");
}
