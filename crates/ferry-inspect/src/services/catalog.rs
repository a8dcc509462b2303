//! The service catalog: which packages, env names, files and strings reveal each service.

use crate::context::Ctx;
use crate::report::{EnvReport, Service, ServiceCategory};
use crate::scan::Sources;

use super::Deps;

struct Entry {
    id: &'static str,
    name: &'static str,
    category: ServiceCategory,
    npm: &'static [&'static str],
    pypi: &'static [&'static str],
    /// Exact names, `PREFIX_*`, or `*PART*`.
    env: &'static [&'static str],
    files: &'static [&'static str],
    text: &'static [&'static str],
}

use ServiceCategory as C;

const CATALOG: &[Entry] = &[
    Entry {
        id: "supabase",
        name: "Supabase",
        category: C::Platform,
        npm: &["@supabase/supabase-js", "@supabase/ssr"],
        pypi: &["supabase"],
        env: &["*SUPABASE_URL*"],
        files: &["supabase/config.toml"],
        text: &[".supabase.co"],
    },
    Entry {
        id: "base44",
        name: "Base44",
        category: C::Platform,
        npm: &["@base44/sdk"],
        pypi: &[],
        env: &["*BASE44_APP_ID*"],
        files: &[
            "base44/config.jsonc",
            "base44/.app.jsonc",
            "src/api/base44Client.js",
            "src/api/base44Client.ts",
        ],
        text: &[],
    },
    Entry {
        id: "mongodb",
        name: "MongoDB",
        category: C::Database,
        npm: &["mongodb", "mongoose"],
        pypi: &["motor", "pymongo"],
        env: &["MONGO_URL", "MONGODB_URI", "MONGO_URI"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "postgres",
        name: "PostgreSQL",
        category: C::Database,
        npm: &[
            "pg",
            "postgres",
            "@neondatabase/serverless",
            "drizzle-orm",
            "@prisma/client",
        ],
        pypi: &["psycopg2", "psycopg2-binary", "psycopg", "asyncpg"],
        env: &["DATABASE_URL", "POSTGRES_URL"],
        files: &["drizzle.config.ts", "prisma/schema.prisma"],
        text: &[],
    },
    Entry {
        id: "replit-auth",
        name: "Replit Auth",
        category: C::Auth,
        npm: &[],
        pypi: &[],
        env: &["REPLIT_DOMAINS"],
        files: &["server/replitAuth.ts", "server/replitAuth.js"],
        text: &["replit.com/oidc"],
    },
    Entry {
        id: "replit-object-storage",
        name: "Replit Object Storage",
        category: C::Storage,
        npm: &["@replit/object-storage"],
        pypi: &[],
        env: &["PRIVATE_OBJECT_DIR", "PUBLIC_OBJECT_SEARCH_PATHS"],
        files: &["server/objectStorage.ts", "server/objectStorage.js"],
        text: &["127.0.0.1:1106"],
    },
    Entry {
        id: "replit-db",
        name: "Replit Database",
        category: C::Database,
        npm: &["@replit/database"],
        pypi: &["replit"],
        env: &["REPLIT_DB_URL"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "firebase",
        name: "Firebase",
        category: C::Platform,
        npm: &["firebase", "firebase-admin"],
        pypi: &["firebase-admin"],
        env: &[],
        files: &["firebase.json", ".firebaserc"],
        text: &[],
    },
    Entry {
        id: "stripe",
        name: "Stripe",
        category: C::Payments,
        npm: &["stripe", "@stripe/stripe-js", "@stripe/react-stripe-js"],
        pypi: &["stripe"],
        env: &["STRIPE_*", "*_STRIPE_*"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "openai",
        name: "OpenAI",
        category: C::Ai,
        npm: &["openai"],
        pypi: &["openai"],
        env: &["OPENAI_API_KEY"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "anthropic",
        name: "Anthropic",
        category: C::Ai,
        npm: &["@anthropic-ai/sdk"],
        pypi: &["anthropic"],
        env: &["ANTHROPIC_API_KEY"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "emergent-llm",
        name: "Emergent LLM proxy",
        category: C::Ai,
        npm: &[],
        pypi: &["emergentintegrations"],
        env: &["EMERGENT_LLM_KEY"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "resend",
        name: "Resend",
        category: C::Email,
        npm: &["resend"],
        pypi: &["resend"],
        env: &["RESEND_API_KEY"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "sendgrid",
        name: "SendGrid",
        category: C::Email,
        npm: &["@sendgrid/mail"],
        pypi: &["sendgrid"],
        env: &["SENDGRID_API_KEY"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "mailgun",
        name: "Mailgun",
        category: C::Email,
        npm: &["mailgun.js"],
        pypi: &[],
        env: &["MAILGUN_API_KEY"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "postmark",
        name: "Postmark",
        category: C::Email,
        npm: &["postmark"],
        pypi: &["postmarker"],
        env: &["POSTMARK_*"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "twilio",
        name: "Twilio",
        category: C::Sms,
        npm: &["twilio"],
        pypi: &["twilio"],
        env: &["TWILIO_*"],
        files: &[],
        text: &[],
    },
    Entry {
        id: "google-maps",
        name: "Google Maps",
        category: C::Maps,
        npm: &[
            "@react-google-maps/api",
            "@googlemaps/js-api-loader",
            "@vis.gl/react-google-maps",
        ],
        pypi: &["googlemaps"],
        env: &["*GOOGLE_MAPS*"],
        files: &[],
        text: &["maps.googleapis.com"],
    },
    Entry {
        id: "mapbox",
        name: "Mapbox",
        category: C::Maps,
        npm: &["mapbox-gl", "react-map-gl"],
        pypi: &[],
        env: &["*MAPBOX*"],
        files: &[],
        text: &[],
    },
];

fn env_matches(pattern: &str, name: &str) -> bool {
    if let Some(inner) = pattern.strip_prefix('*').and_then(|p| p.strip_suffix('*')) {
        name.contains(inner)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix)
    } else {
        pattern == name
    }
}

/// Which service a key kind belongs to.
fn service_of_key(kind: &str) -> Option<&'static str> {
    Some(match kind {
        k if k.starts_with("supabase-") => "supabase",
        k if k.starts_with("stripe-") => "stripe",
        "openai-api-key" => "openai",
        "anthropic-api-key" => "anthropic",
        "emergent-llm-key" => "emergent-llm",
        "sendgrid-api-key" => "sendgrid",
        "firebase-web-api-key" => "firebase",
        _ => return None,
    })
}

/// Every catalogued service with evidence, plus private package indexes. `keys` are the
/// secret scan's `(kind, at)` pairs, secrets and public keys alike.
pub fn detect(
    ctx: &Ctx,
    deps: &Deps,
    sources: &Sources,
    env: &EnvReport,
    keys: &[(String, String)],
) -> Vec<Service> {
    let mut services = Vec::new();
    for entry in CATALOG {
        let mut evidence = Vec::new();
        if let Some((kind, at)) = keys
            .iter()
            .find(|(k, _)| service_of_key(k) == Some(entry.id))
        {
            evidence.push(format!("{kind} at {at}"));
        }
        for dep in entry.npm {
            if let Some(file) = deps.npm.get(*dep) {
                evidence.push(format!("{file}: `{dep}`"));
            }
        }
        for dep in entry.pypi {
            if let Some(file) = deps.pypi.get(*dep) {
                evidence.push(format!("{file}: `{dep}`"));
            }
        }
        for var in &env.vars {
            if entry.env.iter().any(|p| env_matches(p, &var.name)) {
                let at = var
                    .read_at
                    .first()
                    .or(var.defined_in.first())
                    .or(var.example_in.first());
                evidence.push(match at {
                    Some(at) => format!("env `{}` ({at})", var.name),
                    None => format!("env `{}`", var.name),
                });
            }
        }
        for file in entry.files {
            if ctx.tree.has_file(file) {
                evidence.push(file.to_string());
            }
        }
        for needle in entry.text {
            if let Some((file, offset)) = sources
                .code()
                .chain(
                    sources
                        .files
                        .iter()
                        .filter(|f| f.path.ends_with(".env") || f.path.contains("/.env")),
                )
                .find_map(|f| f.text.find(needle).map(|o| (f, o)))
            {
                evidence.push(format!("`{needle}` in {}", file.at(offset)));
            }
        }
        evidence.truncate(8);
        if !evidence.is_empty() {
            services.push(Service {
                id: entry.id.into(),
                name: entry.name.into(),
                category: entry.category,
                evidence,
            });
        }
    }
    let indexes = private_indexes(ctx);
    if !indexes.is_empty() {
        services.push(Service {
            id: "private-package-index".into(),
            name: "Private package index".into(),
            category: ServiceCategory::Packages,
            evidence: indexes,
        });
    }
    services
}

/// `file:line: url` of every private package index.
pub fn private_indexes(ctx: &Ctx) -> Vec<String> {
    let mut out = Vec::new();
    for path in ctx.tree.files() {
        let name = path.rsplit('/').next().unwrap_or(path);
        let is_requirements = name.starts_with("requirements") && name.ends_with(".txt");
        if !is_requirements && name != ".npmrc" {
            continue;
        }
        let text = ctx.tree.read(path).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            let url = if is_requirements {
                line.strip_prefix("--extra-index-url")
                    .or_else(|| line.strip_prefix("--index-url"))
                    .or_else(|| line.strip_prefix("-i "))
                    .map(|u| u.trim_start_matches([' ', '=']).trim())
            } else {
                line.split_once("registry=")
                    .filter(|(k, _)| k.is_empty() || k.ends_with(':'))
                    .map(|(_, u)| u.trim())
                    .filter(|u| {
                        !u.contains("registry.npmjs.org") && !u.contains("registry.yarnpkg.com")
                    })
            };
            if let Some(url) = url.filter(|u| !u.is_empty() && !u.contains("pypi.org")) {
                out.push(format!(
                    "{path}:{}: {}",
                    i + 1,
                    crate::secrets::redact_userinfo(url)
                ));
            }
        }
    }
    out
}
