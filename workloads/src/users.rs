//! Locust-style users: what each simulated user of a chain does, as data (`[load.user]`).
//!
//! A user has an identity (sent as `x-user`, so carts are per user), runs a start task once,
//! then tasks chosen by weight; a task is a sequence of requests sent one after another on the
//! user's connection (add to cart = view a product, then add it). Request paths and bodies are
//! templates over variables drawn once per task run, so the product viewed is the product added.
//!
//! ```toml
//! [load.user]
//! start = "index"              # every user's first task (closed loop)
//! pool = 10000                 # open loop: each arrival is a task of one of this many users
//! spawn_rate = 50              # closed loop: users started per second (0: all spread over one think time)
//! vars = { product = ["OLJCESPC7Z", "66VCHSJNUP"], quantity = ["1", "2"] }
//! [[load.user.tasks]]
//! name = "addToCart"
//! weight = 2
//! requests = [ { route = "product", param = "{product}" },
//!              { route = "add-to-cart", body = "product_id={product}&quantity={quantity}" } ]
//! ```

use crate::chain::{Route, Segment};
use crate::rng::SplitMix64;

/// One request of a task: a route and the templates of its path parameter and body.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTemplate {
    /// Index into the chain's routes.
    pub route: usize,
    pub method: String,
    /// The path with `{param}` left where the route's parameter goes.
    pub path: String,
    pub param: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub weight: f64,
    pub requests: Vec<RequestTemplate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Users {
    pub tasks: Vec<Task>,
    /// Index of the task every user runs first.
    pub start: Option<usize>,
    /// Open loop: arrivals belong to users drawn uniformly from this many.
    pub pool: u32,
    /// Closed loop: users started per second; 0 spreads the start over one think time.
    pub spawn_rate: f64,
    pub vars: Vec<(String, Vec<String>)>,
}

/// The method and path template of `route` (`POST /<name>` without an HTTP pattern).
pub fn route_target(route: &Route) -> (String, String) {
    match &route.http {
        None => ("POST".into(), format!("/{}", route.name)),
        Some(p) if p.segments.is_empty() => (p.method.clone(), "/".into()),
        Some(p) => {
            let mut path = String::new();
            for s in &p.segments {
                path.push('/');
                match s {
                    Segment::Literal(l) => path.push_str(l),
                    Segment::Param(_) => path.push_str("{param}"),
                }
            }
            (p.method.clone(), path)
        }
    }
}

/// Variables chosen for one task run: an index into each variable's values.
pub type Choice = Vec<usize>;

impl Users {
    /// A task by weight.
    pub fn pick(&self, rng: &mut SplitMix64) -> usize {
        let total: f64 = self.tasks.iter().map(|t| t.weight).sum();
        let mut x = rng.next_f64() * total;
        for (i, t) in self.tasks.iter().enumerate() {
            if x < t.weight {
                return i;
            }
            x -= t.weight;
        }
        self.tasks.len() - 1
    }

    /// Draw every variable once for a task run.
    pub fn choose(&self, rng: &mut SplitMix64) -> Choice {
        self.vars.iter().map(|(_, v)| rng.next_range(0, v.len() as u64 - 1) as usize).collect()
    }

    /// `template` with each `{var}` replaced by its chosen value.
    pub fn fill(&self, template: &str, choice: &Choice) -> String {
        let mut out = template.to_string();
        for ((name, values), &i) in self.vars.iter().zip(choice) {
            out = out.replace(&format!("{{{name}}}"), &values[i]);
        }
        out
    }

    /// Requests per task on average, by weight (the request rate a number of users implies).
    pub fn requests_per_task(&self) -> f64 {
        let total: f64 = self.tasks.iter().map(|t| t.weight).sum();
        self.tasks.iter().map(|t| t.weight * t.requests.len() as f64).sum::<f64>() / total
    }
}
