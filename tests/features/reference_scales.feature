Feature: A site measures the AI against the pain scales its nurses already use
  The bundled model is trained on synthetic data, so a clinical governance board asks how it agrees,
  on the site's own patients, with the reference scale its nurses score. Nurses record PAINAD scores
  beside the AI's assessments; each score is paired with the assessment captured within ten minutes,
  and the concordance page reports agreement with confidence intervals clustered by patient.

  Scenario: Sixty paired assessments give concordance figures that a reference computation reproduces
    Given 60 synthetic clips of 12 patients at known pain intensities, scored by the bundled model
    And a nurse's PAINAD score for each clip, drawn from a known relation to its intensity, minutes after it
    When the governance lead opens the concordance page
    Then it shows 60 pairs from 12 patients for PAINAD against the model's version, not marked unreliable
    And kappa, rho, sensitivity and specificity with their 95 % CIs match scikit-learn and SciPy on the same pairs
    And the pairs the API lists are the clips and scores the nurses paired
    And "pain-gateway concordance report" writes the same kappa into an HTML and a PDF report
