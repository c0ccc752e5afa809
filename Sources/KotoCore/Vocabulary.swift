// The closed vocabularies of the three record kinds. Raw values are the
// wire and database spelling; they never change once released.

public enum ProviderType: String, CaseIterable, Sendable, Codable {
    case municipality
    case employmentAuthority = "employment_authority"
    case wellbeingServicesCounty = "wellbeing_services_county"
    case school
    case earlyChildhoodEducation = "early_childhood_education"
    case adultEducation = "adult_education"
    case ngo
    case parish
    case kela
    case other
}

public enum ServiceCategory: String, CaseIterable, Sendable, Codable {
    case integrationTraining = "integration_training"
    case literacyTraining = "literacy_training"
    case languageCourse = "language_course"
    case adultBasicEducation = "adult_basic_education"
    case preparatoryBasicEducation = "preparatory_basic_education"
    case earlyChildhoodEducation = "early_childhood_education"
    case civicOrientation = "civic_orientation"
    case guidanceAndAdvice = "guidance_and_advice"
    case skillsAssessment = "skills_assessment"
    case social
    case health
    case housing
    case employment
    case participation
    case interpretation
    case other
}

public enum StudyPath: String, CaseIterable, Sendable, Codable {
    case slow, basic, fast, none
}

public enum ServiceStatus: String, CaseIterable, Sendable, Codable {
    case draft, active, full, paused, discontinued
}

public enum PermitBasis: String, CaseIterable, Sendable, Codable {
    case quotaRefugee = "quota_refugee"
    case internationalProtection = "international_protection"
    case temporaryProtection = "temporary_protection"
    case family
    case work
    case study
    case euRegistration = "eu_registration"
    case other
}

/// The national language a client's integration runs in.
public enum IntegrationLanguage: String, CaseIterable, Sendable, Codable {
    case fi, sv
}

public enum PlanStatus: String, CaseIterable, Sendable, Codable {
    case none, draft, active
    case underReview = "under_review"
    case completed, interrupted, expired
}

public enum ClientStatus: String, CaseIterable, Sendable, Codable {
    case new
    case assessmentPending = "assessment_pending"
    case assessed
    case planActive = "plan_active"
    case planEnded = "plan_ended"
    case movedAway = "moved_away"
    case closed
}

public enum PlacementType: String, CaseIterable, Sendable, Codable {
    /// A client enrolled in a service.
    case serviceEnrolment = "service_enrolment"
    /// A refugee placed in a municipality (ELY agreement).
    case municipalPlacement = "municipal_placement"
}

public enum EnrolmentStatus: String, CaseIterable, Sendable, Codable {
    case proposed, referred, waiting, active, suspended, completed, discontinued, declined
}

public enum EnrolmentOutcome: String, CaseIterable, Sendable, Codable {
    case completed
    case employed
    case furtherEducation = "further_education"
    case interrupted
    case movedAway = "moved_away"
    case other
}

public enum PlacementRoute: String, CaseIterable, Sendable, Codable {
    case quota
    case receptionCentre = "reception_centre"
    case temporaryProtection = "temporary_protection"
    case familyReunification = "family_reunification"
}

public enum MunicipalPlacementStatus: String, CaseIterable, Sendable, Codable {
    case offered, accepted
    case housingArranged = "housing_arranged"
    case arrived, cancelled
    case movedAway = "moved_away"
}
