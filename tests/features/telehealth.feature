Feature: A telehealth platform has a visit's face video scored
  The platform records the patient during a video visit, posts the clip, follows the job while it runs
  and picks up the result for the clinician's dashboard.

  Background:
    Given the gateway is running in embedded mode with the bundled synthetic-data model
    And a telehealth platform holds a valid token

  Scenario: A face video is accepted, processed in the background and scored
    Given a 3-second video of a real face for patient "Patient/visit-17"
    When the platform posts the video with idempotency key "visit-17-clip-1"
    Then the gateway answers 202 with the assessment's location
    And polling shows the job's status and progress until it completes
    And the assessment has a pain level and quality flags for each scored second
    And the FHIR Observation for the EMR is labelled AI-asserted
    And the raw video has been deleted while its landmarks are kept

  Scenario: A network retry of the same upload does not create a second assessment
    Given a 3-second video of a real face for patient "Patient/visit-18"
    When the platform posts the video with idempotency key "visit-18-clip-1"
    And the platform posts the video again with the same idempotency key
    Then both answers name the same assessment

  Scenario: A file that is not a video is refused at once
    Given a text file named "clip.mp4"
    When the platform posts the video with idempotency key "bad-1"
    Then the gateway answers 415 naming the field "video"
