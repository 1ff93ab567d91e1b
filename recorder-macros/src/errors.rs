//! Collects `syn::Error`s so that every mistake is reported at once.

/// Errors found so far, combined into one `syn::Error` (which renders as one
/// `compile_error!` per message, each at its own span).
#[derive(Debug, Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds an error.
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    /// All errors as one, if any.
    pub fn into_error(self) -> Option<syn::Error> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    #[test]
    fn combines_in_order() {
        let mut errors = Errors::default();
        errors.push(syn::Error::new(Span::call_site(), "one"));
        errors.push(syn::Error::new(Span::call_site(), "two"));
        let all: Vec<String> = errors
            .into_error()
            .unwrap()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(all, ["one", "two"]);
    }
}
