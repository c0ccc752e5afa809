import KotoCore

// The built-in deadline rules: the time limits of the Act on the Promotion of
// Immigrant Integration (Laki kotoutumisen edistämisestä 681/2023, in force
// since 1 January 2025). Looked up in the ministry's guidance on the new Act
// (kotoutuminen.fi, pages on KOTO24) and Parliament's documents; what was and
// was not confirmed, figure by figure:
//
// - The assessment of skills and integration service needs is section 14
//   (kotoutuminen.fi/en/initial-assessment: "Under the Integration Act
//   (section 14) the assessments of skills and the need for integration
//   services …"). It may be prepared for an immigrant whose first residence
//   permit or card was issued, or right of residence registered, no more than
//   three years earlier (kotoutuminen.fi/en/who-is-an-assessment-conducted-on).
//   No start limit counted from the client relationship, as the repealed Act
//   had (1386/2010: two months), was found for 681/2023, so the rule here is
//   the three-year window.
// - The first integration plan no later than three years after the first
//   residence permit or card or the registration of the right of residence;
//   the first plan for at most one year; immigrants to be instructed to enrol
//   in a service within six months of the plan's preparation
//   (kotoutuminen.fi/en/when-is-the-integration-plan-drawn-up-). The plans'
//   overall maximum was cut from three years to two (HaVM 8/2024 vp). The
//   section numbers of these plan provisions could not be confirmed from the
//   sources found, so their `source` names the Act and the provision's subject
//   without a section number, and `note` says so (docs/reports.md too).
//
// Offices can replace every rule, figure and source in `reports.deadlineRules`.
extension ReportRule {
    private static let act = LocalizedText(fi: "Laki kotoutumisen edistämisestä 681/2023", sv: "Lag om främjande av integration 681/2023",
                                           en: "Act on the Promotion of Immigrant Integration 681/2023")

    private static func source(_ provision: LocalizedText) -> LocalizedText {
        LocalizedText(fi: "\(act.fi), \(provision.fi)", sv: "\(act.sv), \(provision.sv)", en: "\(act.en), \(provision.en)")
    }

    private static let planSectionUnconfirmed = LocalizedText(
        fi: "Määräaika ministeriön ohjeen (kotoutuminen.fi) mukaan; pykälänumeroa ei ole tarkistettu lakitekstistä.",
        sv: "Tidsfristen enligt ministeriets anvisning (kotoutuminen.fi); paragrafnumret har inte kontrollerats i lagtexten.",
        en: "Time limit as the ministry's guidance (kotoutuminen.fi) gives it; the section number was not checked against the Act's text.")

    /// The defaults: assessment and first plan within three years of the first
    /// residence permit, the first plan for at most a year, a referral to a
    /// service within six months of the plan.
    public static let integrationActDefaults: [ReportRule] = [
        ReportRule(
            rule: .assessment,
            title: LocalizedText(
                fi: "Osaamisen ja kotoutumisen palvelutarpeen arviointi 3 vuoden kuluessa ensimmäisestä oleskeluluvasta",
                sv: "Bedömning av kompetens och behovet av integrationstjänster inom 3 år från det första uppehållstillståndet",
                en: "Assessment of skills and integration service needs within 3 years of the first residence permit"),
            source: source(LocalizedText(fi: "14 §", sv: "14 §", en: "section 14"))),
        ReportRule(
            rule: .firstPlan,
            title: LocalizedText(
                fi: "Ensimmäinen kotoutumissuunnitelma 3 vuoden kuluessa ensimmäisestä oleskeluluvasta",
                sv: "Den första integrationsplanen inom 3 år från det första uppehållstillståndet",
                en: "First integration plan within 3 years of the first residence permit"),
            source: source(LocalizedText(fi: "kotoutumissuunnitelma", sv: "integrationsplan", en: "integration plan")),
            note: planSectionUnconfirmed),
        ReportRule(
            rule: .planLength,
            title: LocalizedText(
                fi: "Ensimmäinen kotoutumissuunnitelma enintään vuodeksi",
                sv: "Den första integrationsplanen för högst ett år",
                en: "First integration plan for at most one year"),
            source: source(LocalizedText(fi: "kotoutumissuunnitelman kesto", sv: "integrationsplanens längd", en: "duration of the integration plan")),
            note: planSectionUnconfirmed),
        ReportRule(
            rule: .referral,
            title: LocalizedText(
                fi: "Ohjaus koulutukseen tai palveluun 6 kuukauden kuluessa suunnitelman laatimisesta",
                sv: "Hänvisning till utbildning eller tjänst inom 6 månader från att planen utarbetades",
                en: "Referral to education or a service within 6 months of the plan"),
            source: source(LocalizedText(fi: "ohjaus kotoutumissuunnitelman mukaisiin palveluihin",
                                         sv: "hänvisning till tjänster enligt integrationsplanen",
                                         en: "referral to the services of the integration plan")),
            note: planSectionUnconfirmed),
    ]
}
