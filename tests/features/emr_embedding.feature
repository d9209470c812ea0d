Feature: Inside the EMR: the latest pain level as a CDS Hooks card, the review app by SMART launch
  An EMR integrator registers the gateway as a CDS service and as a SMART app. When a chart opens, the
  EMR calls the service with its signed JWT and shows the card; the card's SMART link opens the review
  app for the clinician the EMR signed in. Calls and launches the gateway cannot trust are refused.

  Background:
    Given the EMR "https://ehr.example.org" is registered as a CDS client and SMART issuer of tenant "st-marys"
    And patient "MRN-7" of tenant "st-marys" was assessed as "significant" an hour ago

  Scenario: Opening the chart shows the latest AI pain estimate as a card
    When the EMR calls the service for its patient with "MRN-7", signed with its key
    Then the answer is a "warning" card saying "AI pain estimate: significant (preliminary)"
    And the card says the model is synthetic-trained decision support and links to the SMART app
    And the answer is valid CDS Hooks 2.0

  Scenario: A replayed call is refused
    When the EMR calls the service for its patient with "MRN-7", signed with its key
    And the EMR sends the same call with the same JWT again
    Then the second call is refused with 401 naming "jti"

  Scenario: A launch from an EMR nobody registered is refused
    When a browser opens the app's launch URL from "https://unknown.example.org/fhir"
    Then the page says the launch was refused naming "iss" and no session is opened
