//! The starter templates of the gallery (brief T2): responsive MJML using the templating
//! language, each with the test values it is previewed with.

/// One starter template.
#[derive(Debug, Clone, Copy)]
pub struct Starter {
    pub slug: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub mjml: &'static str,
    /// Saved test values, shaped like a Send API message: `{"Variables": …, "data": …}`.
    pub test_values: &'static str,
}

pub const ALL: [Starter; 5] = [
    Starter {
        slug: "newsletter",
        name: "Classic newsletter",
        description: "Intro, a list of articles with images, one call to action",
        mjml: include_str!("../starters/newsletter.mjml"),
        test_values: include_str!("../starters/newsletter.vars.json"),
    },
    Starter {
        slug: "ecommerce",
        name: "E-commerce",
        description: "Hero, promo code, a product grid with sale prices",
        mjml: include_str!("../starters/ecommerce.mjml"),
        test_values: include_str!("../starters/ecommerce.vars.json"),
    },
    Starter {
        slug: "event",
        name: "Event invitation",
        description: "Date and venue, seats left, speakers",
        mjml: include_str!("../starters/event.mjml"),
        test_values: include_str!("../starters/event.vars.json"),
    },
    Starter {
        slug: "travel",
        name: "Travel",
        description: "Cover, loyalty-tier message, trips with prices",
        mjml: include_str!("../starters/travel.mjml"),
        test_values: include_str!("../starters/travel.vars.json"),
    },
    Starter {
        slug: "sport",
        name: "Sport club",
        description: "Last result with win/draw/loss message, next fixtures",
        mjml: include_str!("../starters/sport.mjml"),
        test_values: include_str!("../starters/sport.vars.json"),
    },
];
